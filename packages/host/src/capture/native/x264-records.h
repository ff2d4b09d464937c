/*
 * What SmolDesk's capture helpers share (smoldesk-grab on X11,
 * smoldesk-wl-grab on wlroots, smoldesk-pw-grab on GNOME): BGRX → I420, one
 * libx264 encoder set up from the host's options, the frame records they
 * write on stdout, the idle-frame interval, and the rate ceiling (the two
 * that grab on change; PipeWire frames are only spaced by it).
 *
 * A record: u32 BE payload length, u64 BE capture time in microseconds
 * (CLOCK_MONOTONIC), u8 flags (1 = keyframe), then the frame as H.264
 * Annex B (SPS/PPS repeated before every IDR). Static functions in a header:
 * each helper is one translation unit, built by `./smoldesk setup`.
 */
#ifndef SMOLDESK_X264_RECORDS_H
#define SMOLDESK_X264_RECORDS_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x264.h>

#define MAX_PARAMS 32

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

/* BGRX → I420, BT.601 limited range (what browsers assume for untagged H.264), chroma from 2×2 averages. */
static void bgrx_to_i420(const uint8_t *src, int stride, int w, int h, x264_picture_t *pic) {
  uint8_t *py = pic->img.plane[0], *pu = pic->img.plane[1], *pv = pic->img.plane[2];
  int sy = pic->img.i_stride[0], su = pic->img.i_stride[1], sv = pic->img.i_stride[2];
  for (int y = 0; y < h; y += 2) {
    const uint8_t *r0 = src + (size_t)y * stride;
    const uint8_t *r1 = r0 + stride;
    uint8_t *y0 = py + (size_t)y * sy;
    uint8_t *y1 = y0 + sy;
    uint8_t *u = pu + (size_t)(y / 2) * su;
    uint8_t *v = pv + (size_t)(y / 2) * sv;
    for (int x = 0; x < w; x += 2) {
      const uint8_t *a = r0 + x * 4, *b = r0 + x * 4 + 4, *c = r1 + x * 4, *d = r1 + x * 4 + 4;
      y0[x] = (uint8_t)(((66 * a[2] + 129 * a[1] + 25 * a[0] + 128) >> 8) + 16);
      y0[x + 1] = (uint8_t)(((66 * b[2] + 129 * b[1] + 25 * b[0] + 128) >> 8) + 16);
      y1[x] = (uint8_t)(((66 * c[2] + 129 * c[1] + 25 * c[0] + 128) >> 8) + 16);
      y1[x + 1] = (uint8_t)(((66 * d[2] + 129 * d[1] + 25 * d[0] + 128) >> 8) + 16);
      int r = a[2] + b[2] + c[2] + d[2];
      int g = a[1] + b[1] + c[1] + d[1];
      int bl = a[0] + b[0] + c[0] + d[0];
      u[x / 2] = (uint8_t)(((-38 * r - 74 * g + 112 * bl + 512) >> 10) + 128);
      v[x / 2] = (uint8_t)(((112 * r - 94 * g - 18 * bl + 512) >> 10) + 128);
    }
  }
}

/* The encoder options both helpers take (every value was checked by SmolDesk). */
struct encoder_options {
  const char *preset, *tune, *profile;
  const char *params[MAX_PARAMS];
  int nparams;
};

/* Takes --preset, --tune, --profile and --param; returns 0 for an option that is not one of them. */
static int encoder_option(struct encoder_options *o, const char *k, const char *v) {
  if (!strcmp(k, "--preset")) o->preset = v;
  else if (!strcmp(k, "--tune")) o->tune = v;
  else if (!strcmp(k, "--profile")) o->profile = v;
  else if (!strcmp(k, "--param")) {
    if (o->nparams == MAX_PARAMS) die("too many --param");
    o->params[o->nparams++] = v;
  } else return 0;
  return 1;
}

/* An encoder for w × h frames timed in microseconds, rate control assuming fps. */
static x264_t *open_encoder(const struct encoder_options *o, int w, int h, int fps) {
  x264_param_t param;
  if (x264_param_default_preset(&param, o->preset ? o->preset : "ultrafast", o->tune) < 0)
    die("unknown x264 preset or tune");
  param.i_width = w;
  param.i_height = h;
  param.i_csp = X264_CSP_I420;
  /* Frames come when the screen changes, but rate control must not wait for the next frame to learn
   * this one's duration: with b_vfr_input x264 holds every frame back by one (1 s on a still screen).
   * Rate control assumes --fps; timestamps still pass through, in microseconds. */
  param.b_vfr_input = 0;
  param.i_timebase_num = 1;
  param.i_timebase_den = 1000000;
  param.i_fps_num = (uint32_t)fps;
  param.i_fps_den = 1;
  param.b_repeat_headers = 1;
  param.b_annexb = 1;
  param.i_log_level = X264_LOG_ERROR;
  for (int i = 0; i < o->nparams; i++) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", o->params[i]);
    char *eq = strchr(buf, '=');
    if (!eq) die("--param takes key=value");
    *eq = 0;
    if (x264_param_parse(&param, buf, eq + 1) != 0) {
      fprintf(stderr, "%s: x264 refused %s\n", helper_name, o->params[i]);
      exit(1);
    }
  }
  /* x264's "partitions" reach P-frames only; a preset that leaves 4×4 intra out (ultrafast) leaves it
   * out of keyframes too, where text needs it most. Asked for in P-frames, it is used in keyframes. */
  if (param.analyse.inter & X264_ANALYSE_I4x4) param.analyse.intra |= X264_ANALYSE_I4x4;
  if (o->profile && x264_param_apply_profile(&param, o->profile) < 0) die("x264 refused the profile");
  x264_t *encoder = x264_encoder_open(&param);
  if (!encoder) die("x264 could not open the encoder");
  return encoder;
}

/* Encodes one picture captured at `captured_us` and writes its record; returns the bytes written. */
static int encode_record(x264_t *encoder, x264_picture_t *pic, int64_t captured_us, int idr) {
  x264_picture_t out;
  x264_nal_t *nals;
  int nnal;
  pic->i_pts = captured_us;
  pic->i_type = idr ? X264_TYPE_IDR : X264_TYPE_AUTO;
  int size = x264_encoder_encode(encoder, &nals, &nnal, pic, &out);
  if (size < 0) die("x264 failed to encode a frame");
  if (size > 0) {
    uint8_t header[13];
    uint64_t ts = (uint64_t)out.i_pts; /* the frame's own capture time, also when B-frames reorder */
    header[0] = (uint8_t)(size >> 24);
    header[1] = (uint8_t)(size >> 16);
    header[2] = (uint8_t)(size >> 8);
    header[3] = (uint8_t)size;
    for (int i = 0; i < 8; i++) header[4 + i] = (uint8_t)(ts >> (56 - 8 * i));
    header[12] = out.b_keyframe ? 1 : 0;
    write_all(header, sizeof header);
    write_all(nals[0].p_payload, (size_t)size); /* x264 lays the NALs out back to back */
  }
  return size;
}

/*
 * What the host asks of a running helper on its stdin: 'k' = an IDR now; "b<kbps>\n" = the bitrate
 * ceiling the path allows (congestion control), 0 = back to the configured one; "f<fps>\n" = a
 * frame rate ceiling below --fps (0 = --fps again). Anything else is ignored.
 */
struct control {
  int want_idr;
  int kbps, fps;         /* the latest asked for (0 = as configured) */
  int rate_changed;      /* kbps or fps changed since the helper last applied them */
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
        if (c->cmd == 'b') c->kbps = (int)c->value;
        else c->fps = (int)c->value;
        c->rate_changed = 1;
      }
      c->cmd = 0;
      continue;
    }
    if (ch == 'k') c->want_idr = 1;
    else if (ch == 'b' || ch == 'f') {
      c->cmd = ch;
      c->value = 0;
    }
  }
}

/*
 * The encoder's rate as opened (x264-helper-args.ts always turns VBV on, so that its ceiling can
 * change without a new encoder, hence without a keyframe).
 */
struct rate_plan {
  int open_fps;
  int vbv_kbps, vbv_buffer_kbit; /* as opened */
  int abr_kbps;                  /* the average bitrate target as opened (0: constant quality) */
};

static void rate_plan_init(struct rate_plan *r, x264_t *encoder, int fps) {
  x264_param_t p;
  x264_encoder_parameters(encoder, &p);
  r->open_fps = fps;
  r->vbv_kbps = p.rc.i_vbv_max_bitrate;
  r->vbv_buffer_kbit = p.rc.i_vbv_buffer_size;
  r->abr_kbps = p.rc.i_rc_method == X264_RC_ABR ? p.rc.i_bitrate : 0;
}

/*
 * Applies the path's ceiling `kbps` (0: the configured one) at `fps` frames a second. x264 budgets
 * each frame as VBV rate / the fps it was opened with, so fewer frames a second than that would
 * also mean less bitrate: the rate it is given is scaled up by open_fps / fps to make up for it.
 * The buffer keeps its size in frames. Returns 0 when the encoder has no VBV to change.
 */
static int apply_rate(x264_t *encoder, const struct rate_plan *r, int kbps, int fps) {
  if (r->vbv_kbps <= 0 || r->vbv_buffer_kbit <= 0) return 0;
  int ceiling = kbps > 0 && kbps < r->vbv_kbps ? kbps : r->vbv_kbps;
  double scale = fps > 0 && fps < r->open_fps ? (double)r->open_fps / fps : 1.0;
  x264_param_t p;
  x264_encoder_parameters(encoder, &p);
  p.rc.i_vbv_max_bitrate = (int)(ceiling * scale);
  p.rc.i_vbv_buffer_size = (int)((double)r->vbv_buffer_kbit * ceiling / r->vbv_kbps * scale);
  if (p.rc.i_vbv_buffer_size < 1) p.rc.i_vbv_buffer_size = 1;
  if (r->abr_kbps > 0) {
    int abr = r->abr_kbps < ceiling ? r->abr_kbps : ceiling;
    p.rc.i_bitrate = (int)(abr * scale);
  }
  return x264_encoder_reconfig(encoder, &p) == 0;
}

#endif
