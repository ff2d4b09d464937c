/*
 * What SmolDesk's capture helpers share, whatever they encode with
 * (x264-records.h, vp8-records.h): errors, the clock, the frame records they
 * write on stdout, BGRX → I420, the idle-frame interval, the rate ceiling
 * (the helpers that grab on change; PipeWire frames are only spaced by it)
 * and the requests the host writes on their stdin.
 *
 * A record: u32 BE payload length, u64 BE capture time in microseconds
 * (CLOCK_MONOTONIC), u8 flags (1 = keyframe), then one encoded frame (H.264
 * Annex B with SPS/PPS before every IDR, or one VP8 frame). Static functions
 * in a header: each helper is one translation unit, built by `./smoldesk setup`.
 */
#ifndef SMOLDESK_HELPER_RECORDS_H
#define SMOLDESK_HELPER_RECORDS_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libyuv/convert_from_argb.h>

/* The helper's name in its error messages. */
static const char *helper_name = "smoldesk-helper";

static void die(const char *what) {
  fprintf(stderr, "%s: %s\n", helper_name, what);
  exit(1);
}

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* With nothing changing, one frame a second keeps the receiver's statistics and loss recovery alive. */
#define IDLE_FRAME_US 1000000
/*
 * The rate ceiling refills 5 % faster than --fps. A source whose clock runs a hair faster than the
 * ceiling (a 60 Hz animation timed by another clock than ours) would otherwise empty the bucket
 * and then wait for every token: each change held back by a delay that sweeps from nothing to a
 * whole interval, half an interval on average, which is what grabbing on change is meant to
 * avoid. Measured with a 30.1 Hz scene and --fps 30: 34.7 ms median glass-to-glass before, against
 * 16.8 ms with --fps 120. 5 % more frames than asked is immaterial to what the ceiling is for
 * (CPU and bandwidth).
 */
#define RATE_SLACK 1.05

/*
 * The rate ceiling: a token bucket (--fps a second plus the slack above, up to two in hand) with
 * frames at least half an interval apart: a source that is jittery against --fps is not held back
 * a whole interval, while the average stays within the slack of --fps.
 */
struct rate_ceiling {
  int fps;
  int64_t interval; /* 1 / --fps, in microseconds */
  double budget;    /* frames that may go out, as of budget_at */
  int64_t budget_at;
  double tokens;    /* as counted by the last rate_allowed */
};

static inline void rate_init(struct rate_ceiling *r, int fps) {
  r->fps = fps;
  r->interval = 1000000 / fps;
  r->budget = 2;
  r->budget_at = now_us();
  r->tokens = 2;
}

/* When the next frame may go out, the last having gone at last_frame. */
static inline int64_t rate_allowed(struct rate_ceiling *r, int64_t now, int64_t last_frame) {
  double tokens = r->budget + (double)(now - r->budget_at) * r->fps * RATE_SLACK / 1e6;
  if (tokens > 2) tokens = 2;
  r->tokens = tokens;
  int64_t allowed = last_frame + r->interval / 2;
  if (tokens < 1) {
    int64_t refill = now + (int64_t)((1 - tokens) * 1e6 / (r->fps * RATE_SLACK));
    if (refill > allowed) allowed = refill;
  }
  return allowed;
}

/* A frame went out: one of the tokens rate_allowed counted at `now` is spent. */
static inline void rate_spend(struct rate_ceiling *r, int64_t now) {
  r->budget = r->tokens - 1;
  r->budget_at = now;
}

static void write_all(const void *data, size_t len) {
  const uint8_t *p = data;
  while (len > 0) {
    ssize_t n = write(STDOUT_FILENO, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) exit(0); /* the reader went away: nothing left to do */
    p += n;
    len -= (size_t)n;
  }
}

/* One frame record: its header (u32 BE length, u64 BE capture time in µs, u8 flags), then the frame. */
static void write_record(const void *frame, int size, uint64_t captured_us, int keyframe) {
  uint8_t header[13];
  header[0] = (uint8_t)(size >> 24);
  header[1] = (uint8_t)(size >> 16);
  header[2] = (uint8_t)(size >> 8);
  header[3] = (uint8_t)size;
  for (int i = 0; i < 8; i++) header[4 + i] = (uint8_t)(captured_us >> (56 - 8 * i));
  header[12] = keyframe ? 1 : 0;
  write_all(header, sizeof header);
  write_all(frame, (size_t)size);
}

/*
 * BGRX → I420, BT.601 limited range (what browsers assume for untagged H.264), chroma from 2×2
 * averages. libyuv's ARGBToI420 (X11's BGRX is libyuv's "ARGB", little-endian) picks its SIMD
 * rows at run time: 0.55 ms for a 1920x1080 frame here, against 3.4 ms for the plain C loop it
 * replaced, which at 60 frames/s was a fifth of a core (issue 18). Same samples, chroma ±1.
 */
static void bgrx_to_i420_planes(const uint8_t *src, int stride, int w, int h, uint8_t *const planes[3],
                                const int strides[3]) {
  if (ARGBToI420(src, stride, planes[0], strides[0], planes[1], strides[1], planes[2], strides[2], w, h) != 0)
    die("could not convert the picture to I420");
}

/*
 * BGRX w × h → BGRX (w / n) × (h / n), each pixel the average of an n × n box: the picture a
 * narrow path can afford (resolution is the last thing congestion control gives up, after bitrate
 * and frame rate). A box average keeps thin text legible where dropping pixels would break it up.
 */
static inline void bgrx_shrink(const uint8_t *src, int stride, int w, int h, int n, uint8_t *dst) {
  int dw = w / n, dh = h / n, area = n * n;
  for (int y = 0; y < dh; y++) {
    uint8_t *out = dst + (size_t)y * dw * 4;
    for (int x = 0; x < dw; x++) {
      int sum[3] = {0, 0, 0};
      for (int by = 0; by < n; by++) {
        const uint8_t *p = src + (size_t)(y * n + by) * stride + (size_t)x * n * 4;
        for (int bx = 0; bx < n; bx++, p += 4) {
          sum[0] += p[0];
          sum[1] += p[1];
          sum[2] += p[2];
        }
      }
      out[x * 4] = (uint8_t)(sum[0] / area);
      out[x * 4 + 1] = (uint8_t)(sum[1] / area);
      out[x * 4 + 2] = (uint8_t)(sum[2] / area);
      out[x * 4 + 3] = 0;
    }
  }
}

/*
 * I420 planes of a w × h picture → those of its 1/n ((w/n)&~1 × (h/n)&~1), each sample the average
 * of an n × n box of its plane: smoldesk-pw-grab keeps its last whole picture and derives the
 * smaller one from it, so a new size can start at once, also on a still screen.
 */
static inline void i420_shrink_planes(const uint8_t *const in[3], const int in_stride[3], int w, int h, int n,
                                      uint8_t *const out[3], const int out_stride[3]) {
  int dw = (w / n) & ~1, dh = (h / n) & ~1, area = n * n;
  for (int plane = 0; plane < 3; plane++) {
    int pw = plane ? dw / 2 : dw, ph = plane ? dh / 2 : dh;
    for (int y = 0; y < ph; y++) {
      for (int x = 0; x < pw; x++) {
        int sum = 0;
        for (int by = 0; by < n; by++) {
          const uint8_t *p = in[plane] + (size_t)(y * n + by) * in_stride[plane] + (size_t)x * n;
          for (int bx = 0; bx < n; bx++) sum += p[bx];
        }
        out[plane][(size_t)y * out_stride[plane] + x] = (uint8_t)(sum / area);
      }
    }
  }
}

/* The most a helper divides its picture's width and height by. */
#define MAX_SHRINK 4

/*
 * What a helper encodes of what it grabs: the whole gw × gh, or 1/n of it ("s<n>" on stdin), at
 * an even width and height. The helpers share it; each opens a new encoder when the size changes.
 */
struct shrink {
  int n;      /* the divisor in force (1: the whole picture) */
  int w, h;   /* the size encoded */
  uint8_t *pixels; /* the box-averaged BGRX picture, while n > 1 (made on first use) */
};

/*
 * Asks for 1/n of a gw × gh grab (n clamped to 1..MAX_SHRINK; a picture under 16 pixels a side
 * keeps the divisor it had). Returns 1 when the size encoded changed: the caller opens a new
 * encoder at s->w × s->h, starting with a keyframe.
 */
static inline int shrink_set(struct shrink *s, int n, int gw, int gh) {
  n = n < 1 ? 1 : n > MAX_SHRINK ? MAX_SHRINK : n;
  int w = (gw / n) & ~1, h = (gh / n) & ~1;
  if (w < 16 || h < 16) {
    if (s->w > 0) return 0;
    n = 1, w = gw & ~1, h = gh & ~1;
  }
  if (n == s->n && w == s->w && h == s->h) return 0;
  free(s->pixels);
  s->pixels = NULL;
  s->n = n, s->w = w, s->h = h;
  return 1;
}

/* The BGRX picture to convert: the grab itself, or its box average (its stride in *out_stride). */
static inline const uint8_t *shrink_picture(struct shrink *s, const uint8_t *grab, int stride, int *out_stride) {
  if (s->n <= 1) {
    *out_stride = stride;
    return grab;
  }
  if (!s->pixels && !(s->pixels = malloc((size_t)s->w * s->h * 4))) die("out of memory");
  bgrx_shrink(grab, stride, s->w * s->n, s->h * s->n, s->n, s->pixels);
  *out_stride = s->w * 4;
  return s->pixels;
}

/*
 * What the host asks of a running helper on its stdin: 'k' = an IDR now; "b<kbps>\n" = the bitrate
 * ceiling the path allows (congestion control), 0 = back to the configured one; "f<fps>\n" = a
 * frame rate ceiling below --fps (0 = --fps again); "s<n>\n" = encode at 1/n of the grabbed
 * width and height (0 or 1 = as grabbed; struct shrink), which smoldesk-grab, smoldesk-wl-grab and
 * smoldesk-pw-grab act on. Anything else is ignored.
 */
struct control {
  int want_idr;
  int kbps, fps;         /* the latest asked for (0 = as configured) */
  int rate_changed;      /* kbps or fps changed since the helper last applied them */
  int shrink;            /* the latest divisor asked for (0 = none) */
  int shrink_changed;
  int paused;            /* "p1": nobody watches this encoder's codec; "p0": somebody does again */
  int pause_changed;
  char cmd;              /* the command whose digits are being read, or 0 */
  long value;
};

static void control_feed(struct control *c, const char *buf, ssize_t n) {
  for (ssize_t i = 0; i < n; i++) {
    char ch = buf[i];
    if (c->cmd) {
      if (ch >= '0' && ch <= '9') {
        if (c->value < 10000000) c->value = c->value * 10 + (ch - '0');
        continue;
      }
      if (ch == '\n') {
        if (c->cmd == 's') {
          c->shrink = (int)c->value;
          c->shrink_changed = 1;
        } else if (c->cmd == 'p') {
          c->paused = c->value != 0;
          c->pause_changed = 1;
        } else {
          if (c->cmd == 'b') c->kbps = (int)c->value;
          else c->fps = (int)c->value;
          c->rate_changed = 1;
        }
      }
      c->cmd = 0;
      continue;
    }
    if (ch == 'k') c->want_idr = 1;
    else if (ch == 'b' || ch == 'f' || ch == 's' || ch == 'p') {
      c->cmd = ch;
      c->value = 0;
    }
  }
}

#endif
