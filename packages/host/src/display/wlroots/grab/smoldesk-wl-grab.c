/*
 * smoldesk-wl-grab: damage-driven capture of one wlroots output
 * (wlr-screencopy, copy_with_damage) + libx264, the Wayland sibling of
 * smoldesk-grab; built with -DSMOLDESK_GRAB_VP8 it is smoldesk-wl-grab-vp8,
 * the same loop with libvpx (vp8-records.h: its options, VP8 frames out).
 *
 * Why not wf-recorder: it captures every refresh or holds a change back
 * until the next one, queues frames ahead of its encoder (when the encoder
 * falls behind, latency grows by the queue: hundreds of ms on this machine),
 * and cannot be asked for a keyframe. Here the next frame is asked for only
 * once the last one is encoded, so what is encoded is always the newest
 * picture; the compositor answers copy_with_damage when the output changed;
 * no more often than --fps; and a byte on stdin makes the last picture again,
 * as an IDR, at once.
 *
 *   smoldesk-wl-grab --output NAME --fps N --cursor 0|1
 *                    --preset P [--tune T] [--profile P] [--param key=value]...
 *
 * stdout: frame records (x264-records.h). stdin: 'k' = an IDR now, "b<kbps>\n" / "f<fps>\n" the
 * path's ceilings, "s<n>\n" 1/n of the output's width and height (helper-records.h); end of
 * file = exit. Exits when its parent dies.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <wayland-client.h>

#include "wlr-screencopy-unstable-v1-client-protocol.h"
#ifdef SMOLDESK_GRAB_VP8
#include "vp8-records.h"
#else
#include "x264-records.h"
#endif

#define WL_SHM_XRGB 1
#define WL_SHM_ARGB 0

struct output {
  struct wl_output *output;
  char name[64];
};

static struct wl_shm *shm;
static struct zwlr_screencopy_manager_v1 *manager;
static struct output outputs[16];
static int n_outputs;

/* The frame being copied. */
static struct {
  uint32_t format, width, height, stride;
  int have_buffer_info, buffer_done, ready, failed, y_invert;
} frame;

static void output_geometry(void *d, struct wl_output *o, int32_t x, int32_t y, int32_t pw, int32_t ph,
                            int32_t sp, const char *make, const char *model, int32_t t) {
  (void)d, (void)o, (void)x, (void)y, (void)pw, (void)ph, (void)sp, (void)make, (void)model, (void)t;
}
static void output_mode(void *d, struct wl_output *o, uint32_t f, int32_t w, int32_t h, int32_t r) {
  (void)d, (void)o, (void)f, (void)w, (void)h, (void)r;
}
static void output_done(void *d, struct wl_output *o) { (void)d, (void)o; }
static void output_scale(void *d, struct wl_output *o, int32_t s) { (void)d, (void)o, (void)s; }
static void output_name(void *d, struct wl_output *o, const char *name) {
  (void)o;
  snprintf(((struct output *)d)->name, sizeof ((struct output *)d)->name, "%s", name);
}
static void output_description(void *d, struct wl_output *o, const char *s) { (void)d, (void)o, (void)s; }
static const struct wl_output_listener output_listener = {
    .geometry = output_geometry,
    .mode = output_mode,
    .done = output_done,
    .scale = output_scale,
    .name = output_name,
    .description = output_description,
};

static void global(void *d, struct wl_registry *r, uint32_t name, const char *iface, uint32_t version) {
  (void)d;
  if (!strcmp(iface, wl_shm_interface.name)) shm = wl_registry_bind(r, name, &wl_shm_interface, 1);
  else if (!strcmp(iface, zwlr_screencopy_manager_v1_interface.name) && version >= 2)
    manager = wl_registry_bind(r, name, &zwlr_screencopy_manager_v1_interface, version < 3 ? version : 3);
  else if (!strcmp(iface, wl_output_interface.name) && version >= 4 && n_outputs < 16) {
    struct output *o = &outputs[n_outputs++];
    o->output = wl_registry_bind(r, name, &wl_output_interface, 4);
    wl_output_add_listener(o->output, &output_listener, o);
  }
}
static void global_remove(void *d, struct wl_registry *r, uint32_t name) { (void)d, (void)r, (void)name; }
static const struct wl_registry_listener registry_listener = {global, global_remove};

static void frame_buffer(void *d, struct zwlr_screencopy_frame_v1 *f, uint32_t format, uint32_t w, uint32_t h,
                         uint32_t stride) {
  (void)d, (void)f;
  if (format != WL_SHM_XRGB && format != WL_SHM_ARGB) return; /* only 32-bit BGRX/BGRA in memory */
  frame.format = format, frame.width = w, frame.height = h, frame.stride = stride;
  frame.have_buffer_info = 1;
}
static void frame_flags(void *d, struct zwlr_screencopy_frame_v1 *f, uint32_t flags) {
  (void)d, (void)f;
  frame.y_invert = (flags & ZWLR_SCREENCOPY_FRAME_V1_FLAGS_Y_INVERT) != 0;
}
static void frame_ready(void *d, struct zwlr_screencopy_frame_v1 *f, uint32_t a, uint32_t b, uint32_t c) {
  (void)d, (void)f, (void)a, (void)b, (void)c;
  frame.ready = 1;
}
static void frame_failed(void *d, struct zwlr_screencopy_frame_v1 *f) {
  (void)d, (void)f;
  frame.failed = 1;
}
static void frame_damage(void *d, struct zwlr_screencopy_frame_v1 *f, uint32_t x, uint32_t y, uint32_t w,
                         uint32_t h) {
  (void)d, (void)f, (void)x, (void)y, (void)w, (void)h;
}
static void frame_dmabuf(void *d, struct zwlr_screencopy_frame_v1 *f, uint32_t fmt, uint32_t w, uint32_t h) {
  (void)d, (void)f, (void)fmt, (void)w, (void)h;
}
static void frame_buffer_done(void *d, struct zwlr_screencopy_frame_v1 *f) {
  (void)d, (void)f;
  frame.buffer_done = 1;
}
static const struct zwlr_screencopy_frame_v1_listener frame_listener = {
    .buffer = frame_buffer,
    .flags = frame_flags,
    .ready = frame_ready,
    .failed = frame_failed,
    .damage = frame_damage,
    .linux_dmabuf = frame_dmabuf,
    .buffer_done = frame_buffer_done,
};

int main(int argc, char **argv) {
  helper_name = "smoldesk-wl-grab";
  const char *output_wanted = NULL;
  struct encoder_options enc = {0};
  int fps = 30, cursor = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--output")) output_wanted = v;
    else if (!strcmp(k, "--fps")) fps = atoi(v);
    else if (!strcmp(k, "--cursor")) cursor = atoi(v) != 0;
    else if (!encoder_option(&enc, k, v)) die("unknown option");
  }
  if (!output_wanted || fps < 1 || fps > 240) die("bad --output or --fps");
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);

  struct wl_display *display = wl_display_connect(NULL);
  if (!display) die("cannot connect to the Wayland compositor");
  struct wl_registry *registry = wl_display_get_registry(display);
  wl_registry_add_listener(registry, &registry_listener, NULL);
  wl_display_roundtrip(display);
  wl_display_roundtrip(display);
  if (!shm || !manager) die("the compositor offers no wlr-screencopy (version 2 or later)");
  struct wl_output *output = NULL;
  for (int i = 0; i < n_outputs; i++)
    if (!strcmp(outputs[i].name, output_wanted)) output = outputs[i].output;
  if (!output) die("no such output");

  struct wl_buffer *buffer = NULL;
  uint8_t *pixels = NULL;
  encoder_t *encoder = NULL;
  picture_t pic;
  int w = 0, h = 0, have_picture = 0, want_idr = 1;
  struct shrink shrink = {0}; /* what is encoded: the output, or 1/n of it */
  struct rate_ceiling rate;
  rate_init(&rate, fps);
  struct rate_plan plan = {0};
  struct control ctl = {0};
  int64_t last_frame = 0, last_encoded_capture = 0, held_at = 0;
  int held = 0; /* a copied picture waiting for the rate ceiling */
  struct zwlr_screencopy_frame_v1 *pending = NULL;
  int64_t asked_at = 0;

  for (;;) {
    int64_t now = now_us();
    /* Ask for the next frame as soon as the last is encoded (the compositor answers on the next
     * change); the rate ceiling applies when it is ready, below. Paused ("p1": nobody watches this
     * codec), nothing is asked for, copied or encoded. */
    if (!pending && !held && !ctl.paused) {
      memset(&frame, 0, sizeof frame);
      pending = zwlr_screencopy_manager_v1_capture_output(manager, cursor, output);
      zwlr_screencopy_frame_v1_add_listener(pending, &frame_listener, NULL);
      asked_at = now;
    }
    if (pending && frame.failed) {
      zwlr_screencopy_frame_v1_destroy(pending);
      pending = NULL;
      die("the compositor could not copy the output (gone?)");
    }
    if (pending && frame.have_buffer_info && frame.buffer_done && !buffer) {
      w = (int)frame.width - (int)frame.width % 2; /* 4:2:0 needs even dimensions */
      h = (int)frame.height - (int)frame.height % 2;
      size_t size = (size_t)frame.stride * frame.height;
      int fd = memfd_create("smoldesk-wl-grab", MFD_CLOEXEC);
      if (fd < 0 || ftruncate(fd, (off_t)size) < 0) die("no shared memory");
      pixels = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (pixels == MAP_FAILED) die("mmap failed");
      struct wl_shm_pool *pool = wl_shm_create_pool(shm, fd, (int32_t)size);
      buffer = wl_shm_pool_create_buffer(pool, 0, (int32_t)frame.width, (int32_t)frame.height,
                                         (int32_t)frame.stride, frame.format);
      wl_shm_pool_destroy(pool);
      close(fd);
      shrink_set(&shrink, ctl.shrink, w, h);
      encoder = open_encoder(&enc, shrink.w, shrink.h, fps);
      rate_plan_init(&plan, encoder, fps);
      ctl.rate_changed = 1; /* a new encoder takes the path's ceilings too */
      picture_alloc(&pic, shrink.w, shrink.h);
    }
    if (pending && frame.buffer_done && buffer && asked_at != 0) {
      /* The first copy is taken at once; later ones when the output changed. */
      if (have_picture) zwlr_screencopy_frame_v1_copy_with_damage(pending, buffer);
      else zwlr_screencopy_frame_v1_copy(pending, buffer);
      asked_at = 0;
    }
    if (pending && frame.ready) {
      zwlr_screencopy_frame_v1_destroy(pending);
      pending = NULL;
      held = 1;
      held_at = now_us();
    }
    /* The rate ceiling (x264-records.h): a change that comes early waits for its token, one that
     * comes in time is encoded at once. */
    int64_t allowed = rate_allowed(&rate, now, last_frame);
    if (held && ctl.paused) held = 0; /* asked for before the pause: nobody to show it to */
    if (held && now >= allowed) {
      int64_t captured = held_at;
      held = 0;
      rate_spend(&rate, now);
      if (frame.y_invert) {
        /* Bottom row first (a GL renderer's framebuffer): turned the right way up in place. */
        uint8_t *row = malloc(frame.stride);
        if (!row) die("out of memory");
        for (uint32_t top = 0, bottom = frame.height - 1; top < bottom; top++, bottom--) {
          memcpy(row, pixels + (size_t)top * frame.stride, frame.stride);
          memcpy(pixels + (size_t)top * frame.stride, pixels + (size_t)bottom * frame.stride, frame.stride);
          memcpy(pixels + (size_t)bottom * frame.stride, row, frame.stride);
        }
        free(row);
      }
      int stride;
      const uint8_t *picture = shrink_picture(&shrink, pixels, (int)frame.stride, &stride);
      bgrx_to_i420(picture, stride, shrink.w, shrink.h, &pic);
      have_picture = 1;
      encode_record(encoder, &pic, captured, want_idr);
      want_idr = 0;
      last_frame = captured;
      last_encoded_capture = captured;
      continue;
    }
    /* A keyframe asked for, or a still screen for a second: the last picture again, now. */
    if (have_picture && !ctl.paused && (want_idr || now - last_encoded_capture >= IDLE_FRAME_US)) {
      encode_record(encoder, &pic, now, want_idr);
      want_idr = 0;
      last_encoded_capture = now;
    }
    wl_display_flush(display);
    int64_t wake = held ? allowed : last_encoded_capture + IDLE_FRAME_US;
    int timeout_ms = (int)((wake - now_us() + 999) / 1000);
    if (timeout_ms < 0) timeout_ms = 0;
    if (!have_picture) timeout_ms = 100;
    if (ctl.paused) timeout_ms = -1; /* until a line on stdin (or a compositor event) */
    struct pollfd fds[2] = {{wl_display_get_fd(display), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR) die("poll failed");
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (wl_display_dispatch(display) < 0) die("the compositor went away");
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[64];
      ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n <= 0) break;
      control_feed(&ctl, buf, n);
      if (ctl.want_idr) want_idr = 1;
      ctl.want_idr = 0;
      if (ctl.pause_changed) {
        ctl.pause_changed = 0;
        if (!ctl.paused) {
          /* Someone watches again: the last picture is from before the pause, so the next copy is
           * taken whole and at once (a copy still waiting for damage is given up), as a keyframe. */
          if (pending && asked_at == 0) {
            zwlr_screencopy_frame_v1_destroy(pending);
            pending = NULL;
          }
          have_picture = 0;
          want_idr = 1;
        }
      }
    }
    if (ctl.shrink_changed && encoder) {
      ctl.shrink_changed = 0;
      if (shrink_set(&shrink, ctl.shrink, w, h)) {
        /* A new size is a new stream: a new encoder from a keyframe, under the ceilings in force
         * (applied below). The last picture is of the old size: the next copy is taken whole, at
         * once, not when the output next changes (a copy waiting for damage is given up). */
        if (pending && asked_at == 0) {
          zwlr_screencopy_frame_v1_destroy(pending);
          pending = NULL;
        }
        encoder_close(encoder);
        picture_free(&pic);
        encoder = open_encoder(&enc, shrink.w, shrink.h, fps);
        rate_plan_init(&plan, encoder, fps);
        picture_alloc(&pic, shrink.w, shrink.h);
        ctl.rate_changed = 1;
        have_picture = 0;
        want_idr = 1;
      }
    }
    if (ctl.rate_changed && encoder) {
      ctl.rate_changed = 0;
      int now_fps = ctl.fps > 0 && ctl.fps < fps ? ctl.fps : fps;
      apply_rate(encoder, &plan, ctl.kbps, now_fps);
      rate_init(&rate, now_fps);
    }
  }
  if (encoder) encoder_close(encoder);
  free(shrink.pixels);
  wl_display_disconnect(display);
  return 0;
}
