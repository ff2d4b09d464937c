/*
 * smoldesk-grab: damage-driven X11 capture + libx264 encoding for one
 * monitor's rectangle; built again with -DSMOLDESK_GRAB_VP8 as
 * smoldesk-grab-vp8, which encodes with libvpx instead (vp8-records.h).
 *
 * Why not ffmpeg's x11grab: it grabs on a fixed clock, so a change waits on
 * average half a capture interval before it is even seen (8 ms at 60 fps,
 * 17 ms at 30), every unchanged frame is still converted and encoded, and the
 * CLI cannot be asked for a keyframe. Here the X server's DAMAGE extension
 * says when the rectangle changed; the frame is grabbed 1 ms later (so a
 * client's burst of drawing lands in one frame), no more often than --fps,
 * and a byte on stdin asks for an IDR frame at once.
 *
 *   smoldesk-grab --display :0 --region X,Y,W,H --fps N --cursor 0|1
 *                 --preset P [--tune T] [--profile P] [--param key=value]...   (x264)
 *                 --cpu-used N --gop N --end-usage cq|vbr|cbr [--cq-level N] [--kbps N]
 *                 [--buffer-ms N] [--threads N]                                 (VP8)
 *                 [--stats 1]   (per-stage averages, and the median wait from change to grab,
 *                                on stderr at exit: for the benchmark and the tests)
 *
 * Every value was checked by SmolDesk before it got here; --param goes to
 * x264_param_parse, which refuses unknown names and bad values (libvpx
 * refuses a bad VP8 setting the same way).
 *
 * stdout: one record per encoded frame: u32 BE payload length, u64 BE
 * capture time in microseconds (CLOCK_MONOTONIC), u8 flags (1 = keyframe),
 * then the frame: H.264 Annex B (SPS/PPS repeated before every IDR), or VP8.
 * stdin: 'k' = next frame is a keyframe, sent now; "b<kbps>\n" / "f<fps>\n" = the path's bitrate
 * and frame rate ceilings; "s<n>\n" = encode at 1/n of the region's width and height, from a
 * keyframe on (helper-records.h); "p1\n" = grab and encode nothing (no viewer watches this codec),
 * "p0\n" = go on, from a keyframe; end of file = exit.
 * Exits when its parent dies (PR_SET_PDEATHSIG).
 */
#define _GNU_SOURCE
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>
#include <X11/extensions/Xdamage.h>
#include <X11/extensions/Xfixes.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>
#ifdef SMOLDESK_GRAB_VP8
#include "vp8-records.h"
#else
#include "x264-records.h"
#endif

/* Drawing that arrives in a burst (a repaint, a scroll) lands in one frame. */
#define DEFER_US 1000

struct cursor {
  int enabled;
  int x, y;           /* pointer position, root coordinates */
  int xhot, yhot;
  int width, height;
  uint32_t *argb;     /* premultiplied ARGB, width × height */
};

static void fetch_cursor_image(Display *dpy, struct cursor *c) {
  XFixesCursorImage *img = XFixesGetCursorImage(dpy);
  if (!img) return;
  free(c->argb);
  c->width = img->width;
  c->height = img->height;
  c->xhot = img->xhot;
  c->yhot = img->yhot;
  c->argb = malloc(sizeof(uint32_t) * (size_t)img->width * img->height);
  if (!c->argb) die("out of memory");
  /* Xlib hands the pixels over as unsigned long, one per pixel, whatever its size. */
  for (int i = 0; i < img->width * img->height; i++) c->argb[i] = (uint32_t)img->pixels[i];
  XFree(img);
}

/* Blends the cursor over a BGRX frame whose top-left corner is (ox, oy) on the root window. */
static void draw_cursor(const struct cursor *c, uint8_t *bgrx, int stride, int w, int h, int ox, int oy) {
  if (!c->enabled || !c->argb) return;
  int left = c->x - c->xhot - ox;
  int top = c->y - c->yhot - oy;
  for (int cy = 0; cy < c->height; cy++) {
    int y = top + cy;
    if (y < 0 || y >= h) continue;
    for (int cx = 0; cx < c->width; cx++) {
      int x = left + cx;
      if (x < 0 || x >= w) continue;
      uint32_t px = c->argb[cy * c->width + cx];
      uint32_t a = px >> 24;
      if (a == 0) continue;
      uint8_t *d = bgrx + (size_t)y * stride + (size_t)x * 4;
      /* XFixes cursor pixels are premultiplied. */
      d[0] = (uint8_t)((px & 0xff) + d[0] * (255 - a) / 255);
      d[1] = (uint8_t)(((px >> 8) & 0xff) + d[1] * (255 - a) / 255);
      d[2] = (uint8_t)(((px >> 16) & 0xff) + d[2] * (255 - a) / 255);
    }
  }
}

/* Waits from change to grab, kept with --stats for their median (the mean hides one cause among
 * others: a frame split by a grab in the middle of a client's drawing waits half an interval). */
#define MAX_WAITS 65536
static int64_t waits[MAX_WAITS];
static size_t nwaits;

static int compare_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int rects_intersect(int ax, int ay, int aw, int ah, int bx, int by, int bw, int bh) {
  return ax < bx + bw && bx < ax + aw && ay < by + bh && by < ay + ah;
}

int main(int argc, char **argv) {
  helper_name = "smoldesk-grab";
  const char *display_name = NULL;
  struct encoder_options enc = {0};
  int rx = 0, ry = 0, rw = 0, rh = 0, fps = 30;
  struct cursor cursor = {0};
  int stats = 0;
  /* Per-stage totals in microseconds: change → grab, grab, cursor + conversion, encode + write. */
  int64_t frames = 0, bytes = 0, t_wait = 0, t_grab = 0, t_convert = 0, t_encode = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--display")) display_name = v;
    else if (!strcmp(k, "--region")) {
      if (sscanf(v, "%d,%d,%d,%d", &rx, &ry, &rw, &rh) != 4) die("bad --region");
    } else if (!strcmp(k, "--fps")) fps = atoi(v);
    else if (!strcmp(k, "--cursor")) cursor.enabled = atoi(v) != 0;
    else if (!strcmp(k, "--stats")) stats = atoi(v) != 0;
    else if (!encoder_option(&enc, k, v)) die("unknown option");
  }
  if (rw < 2 || rh < 2 || fps < 1 || fps > 240) die("bad --region or --fps");
  rw -= rw % 2; /* 4:2:0 needs even dimensions */
  rh -= rh % 2;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);

  Display *dpy = XOpenDisplay(display_name);
  if (!dpy) die("cannot open the X display");
  int screen = DefaultScreen(dpy);
  Window root = RootWindow(dpy, screen);
  int damage_event, damage_error, fixes_event, fixes_error;
  if (!XShmQueryExtension(dpy)) die("the X server has no MIT-SHM");
  if (!XDamageQueryExtension(dpy, &damage_event, &damage_error)) die("the X server has no DAMAGE");
  if (!XFixesQueryExtension(dpy, &fixes_event, &fixes_error)) die("the X server has no XFIXES");

  XShmSegmentInfo shm = {0};
  XImage *image = XShmCreateImage(dpy, DefaultVisual(dpy, screen), DefaultDepth(dpy, screen), ZPixmap, NULL,
                                  &shm, (unsigned)rw, (unsigned)rh);
  if (!image || image->bits_per_pixel != 32 || image->red_mask != 0xff0000 || image->blue_mask != 0xff)
    die("only 24/32-bit BGRX screens are supported");
  shm.shmid = shmget(IPC_PRIVATE, (size_t)image->bytes_per_line * image->height, IPC_CREAT | 0600);
  if (shm.shmid < 0) die("shmget failed");
  shm.shmaddr = image->data = shmat(shm.shmid, NULL, 0);
  shm.readOnly = False;
  if (shm.shmaddr == (void *)-1 || !XShmAttach(dpy, &shm)) die("cannot attach shared memory");
  XSync(dpy, False);
  shmctl(shm.shmid, IPC_RMID, NULL); /* freed when both sides detach, even if we are killed */

  Damage damage = XDamageCreate(dpy, root, XDamageReportNonEmpty);
  XserverRegion damaged = XFixesCreateRegion(dpy, NULL, 0);
  if (cursor.enabled) {
    XFixesSelectCursorInput(dpy, root, XFixesDisplayCursorNotifyMask);
    fetch_cursor_image(dpy, &cursor);
  }

  /* What is encoded: the region, or 1/n of it (the path's last resort, "s<n>" on stdin). */
  struct shrink shrink = {0};
  shrink_set(&shrink, 1, rw, rh);
  encoder_t *encoder = open_encoder(&enc, rw, rh, fps);
  /* Lookahead, B-frames or frame threads (the Quality mode) make x264 hold frames back until more
   * arrive: such an encoder is fed at a steady --fps, changed or not, as ffmpeg's x11grab would. */
  int fixed_rate = encoder_holds_frames(encoder);
  picture_t pic;
  picture_alloc(&pic, rw, rh);

  struct rate_ceiling rate;
  rate_init(&rate, fps);
  int64_t frame_interval = rate.interval;
  struct rate_plan plan;
  rate_plan_init(&plan, encoder, fps);
  struct control ctl = {0};
  int64_t last_frame = 0, dirty_since = now_us(); /* the first frame goes out at once */
  int dirty = 1, want_idr = 1;
  int64_t next_pointer_poll = 0;
  struct pollfd fds[2] = {{ConnectionNumber(dpy), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};

  for (;;) {
    while (XPending(dpy)) {
      XEvent ev;
      XNextEvent(dpy, &ev);
      if (ev.type == damage_event + XDamageNotify) {
        XDamageSubtract(dpy, damage, None, damaged);
        int n = 0;
        XRectangle *rects = XFixesFetchRegion(dpy, damaged, &n);
        for (int i = 0; i < n && rects; i++) {
          if (rects_intersect(rects[i].x, rects[i].y, rects[i].width, rects[i].height, rx, ry, rw, rh)) {
            if (!dirty) dirty_since = now_us();
            dirty = 1;
            break;
          }
        }
        if (rects) XFree(rects);
      } else if (ev.type == fixes_event + XFixesCursorNotify) {
        fetch_cursor_image(dpy, &cursor);
        if (!dirty) dirty_since = now_us();
        dirty = 1;
      }
    }
    int64_t now = now_us();
    if (cursor.enabled && !ctl.paused && now >= next_pointer_poll) {
      /* Pointer motion damages nothing: poll it once per frame interval (one cheap round trip). */
      Window r, child;
      int x, y, wx, wy;
      unsigned mask;
      if (XQueryPointer(dpy, root, &r, &child, &x, &y, &wx, &wy, &mask) && (x != cursor.x || y != cursor.y)) {
        int visible = rects_intersect(x - cursor.xhot, y - cursor.yhot, cursor.width, cursor.height, rx, ry, rw, rh) ||
                      rects_intersect(cursor.x - cursor.xhot, cursor.y - cursor.yhot, cursor.width, cursor.height, rx,
                                      ry, rw, rh);
        cursor.x = x;
        cursor.y = y;
        if (visible && !dirty) {
          dirty_since = now;
          dirty = 1;
        }
      }
      next_pointer_poll = now + frame_interval;
    }
    /* When the next frame is due: at once for an IDR; 1 ms after a change if the rate ceiling
     * (helper-records.h) allows it; otherwise an idle frame once a second. */
    int64_t allowed = rate_allowed(&rate, now, last_frame);
    if (fixed_rate) {
      dirty = 1;
      dirty_since = last_frame + frame_interval - DEFER_US;
      allowed = last_frame + frame_interval;
    }
    /* Paused, nothing is due: the X server's events are still read (and the damage kept), so the
     * first frame after it shows the screen as it is. */
    int64_t due = ctl.paused ? INT64_MAX
                  : want_idr ? now
                  : dirty    ? (dirty_since + DEFER_US > allowed ? dirty_since + DEFER_US : allowed)
                             : last_frame + IDLE_FRAME_US;
    if (now >= due) {
      if (!XShmGetImage(dpy, root, image, rx, ry, AllPlanes)) die("XShmGetImage failed");
      int64_t grabbed = now_us();
      draw_cursor(&cursor, (uint8_t *)image->data, image->bytes_per_line, rw, rh, rx, ry);
      int stride;
      const uint8_t *picture = shrink_picture(&shrink, (const uint8_t *)image->data, image->bytes_per_line, &stride);
      bgrx_to_i420(picture, stride, shrink.w, shrink.h, &pic);
      int64_t converted = now_us();
      int size = encode_record(encoder, &pic, grabbed, want_idr);
      if (dirty && !fixed_rate) {
        t_wait += now - dirty_since;
        if (stats && nwaits < MAX_WAITS) waits[nwaits++] = now - dirty_since;
      }
      t_grab += grabbed - now;
      t_convert += converted - grabbed;
      t_encode += now_us() - converted;
      bytes += size;
      frames++;
      last_frame = grabbed;
      rate_spend(&rate, now);
      dirty = 0;
      want_idr = 0;
      continue;
    }
    int64_t wake = cursor.enabled && !ctl.paused && next_pointer_poll < due ? next_pointer_poll : due;
    int timeout_ms = wake == INT64_MAX ? -1 : (int)((wake - now + 999) / 1000);
    if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR) die("poll failed");
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[64];
      ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n <= 0) break;
      control_feed(&ctl, buf, n);
      if (ctl.want_idr) want_idr = 1;
      ctl.want_idr = 0;
      if (ctl.pause_changed) {
        ctl.pause_changed = 0;
        /* A viewer that comes for this codec starts from a keyframe, at once. */
        if (!ctl.paused) want_idr = 1;
      }
      int now_fps = ctl.fps > 0 && ctl.fps < fps ? ctl.fps : fps;
      if (ctl.shrink_changed) {
        ctl.shrink_changed = 0;
        if (shrink_set(&shrink, ctl.shrink, rw, rh)) {
          /* A new frame size is a new stream for the decoder: a new encoder, starting with a
           * keyframe (x264 cannot change its size in place; libvpx could, but only with a keyframe
           * too), under the ceilings already in force. */
          encoder_close(encoder);
          picture_free(&pic);
          encoder = open_encoder(&enc, shrink.w, shrink.h, fps);
          picture_alloc(&pic, shrink.w, shrink.h);
          rate_plan_init(&plan, encoder, fps);
          if (ctl.kbps > 0 || now_fps != fps) apply_rate(encoder, &plan, ctl.kbps, now_fps);
          want_idr = 1;
        }
      }
      if (ctl.rate_changed) {
        ctl.rate_changed = 0;
        apply_rate(encoder, &plan, ctl.kbps, now_fps);
        rate_init(&rate, now_fps);
        frame_interval = rate.interval;
      }
    }
  }
  if (stats && frames > 0) {
    qsort(waits, nwaits, sizeof waits[0], compare_i64);
    fprintf(stderr,
            "stats frames=%lld bytes=%lld wait_ms=%.2f wait_median_ms=%.2f grab_ms=%.2f convert_ms=%.2f "
            "encode_ms=%.2f\n",
            (long long)frames, (long long)bytes, t_wait / 1000.0 / frames,
            nwaits > 0 ? waits[nwaits / 2] / 1000.0 : 0.0, t_grab / 1000.0 / frames, t_convert / 1000.0 / frames,
            t_encode / 1000.0 / frames);
  }
  encoder_close(encoder);
  free(shrink.pixels);
  XShmDetach(dpy, &shm);
  XCloseDisplay(dpy);
  return 0;
}
