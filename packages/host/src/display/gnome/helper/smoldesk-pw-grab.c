/*
 * smoldesk-pw-grab: a PipeWire screen-cast stream (mutter's, through
 * `smoldesk-mutter cast`) + libx264, the PipeWire sibling of smoldesk-grab
 * and smoldesk-wl-grab; built with -DSMOLDESK_GRAB_VP8 it is
 * smoldesk-pw-grab-vp8, the same consumer with libvpx (vp8-records.h).
 *
 * Why not GStreamer's pipewiresrc → x264enc: gst-launch cannot be asked for
 * a keyframe (the encoder was restarted for every viewer that needed one),
 * and a still screen needed pipewiresrc's keepalive, a frame every 500 ms.
 * Here mutter's frames (it sends one when the monitor changed) are encoded
 * as they come, no more often than --fps; a byte on stdin encodes the last
 * picture again as an IDR, at once; a still screen costs one frame a second.
 *
 *   smoldesk-pw-grab --node N --fps N [--cursor 0|1]
 *                    --preset P [--tune T] [--profile P] [--param key=value]...
 *
 * (--cursor is taken for the other helpers' sake: the cursor is mutter's to
 * draw, as the recording asked for.)
 *
 * stdout: frame records (x264-records.h). stdin: 'k' = an IDR now, "b<kbps>\n" / "f<fps>\n" the
 * path's ceilings, "s<n>\n" 1/n of the monitor's width and height (helper-records.h); end of
 * file = exit. Exits when its parent dies, or when the stream ends.
 */
#define _GNU_SOURCE
#include <pipewire/pipewire.h>
#include <signal.h>
#include <spa/param/video/format-utils.h>
#include <spa/utils/result.h>
#include <sys/prctl.h>

#ifdef SMOLDESK_GRAB_VP8
#include "vp8-records.h"
#else
#include "x264-records.h"
#endif


static struct {
  struct pw_main_loop *loop;
  struct pw_stream *stream;
  struct spa_hook listener;
  struct spa_source *timer, *input;
  struct spa_video_info_raw format;
  struct encoder_options enc;
  encoder_t *encoder;
  /* The last whole picture (what mutter sent), and what is encoded of it while shrunk. */
  picture_t full, pic;
  struct shrink shrink;
  int fps, width, height, have_picture, pending, want_idr;
  int ceiling_fps; /* the path's frame rate ceiling (≤ fps) */
  struct rate_plan plan;
  struct control ctl;
  int64_t last_frame, pending_at;
  /* Paused ("p1": nobody watches this codec): the newest picture mutter sent, kept as it came
   * (not converted, not encoded) until someone watches again, the older ones handed straight back. */
  struct pw_buffer *kept;
} g;

/* The path's ceilings (congestion control) on the current encoder. */
static void apply_control(void) {
  if (!g.ctl.rate_changed || !g.encoder) return;
  g.ctl.rate_changed = 0;
  g.ceiling_fps = g.ctl.fps > 0 && g.ctl.fps < g.fps ? g.ctl.fps : g.fps;
  apply_rate(g.encoder, &g.plan, g.ctl.kbps, g.ceiling_fps);
}

static void arm(int64_t at_us) {
  struct timespec value = {.tv_sec = at_us / 1000000, .tv_nsec = (at_us % 1000000) * 1000};
  struct timespec none = {0};
  pw_loop_update_timer(pw_main_loop_get_loop(g.loop), g.timer, &value, &none, true);
}

/* Opens the encoder for the size encoded now (the whole picture, or 1/n of it), from a keyframe on. */
static void open_for_shrink(void) {
  if (g.encoder) encoder_close(g.encoder);
  g.encoder = open_encoder(&g.enc, g.shrink.w, g.shrink.h, g.fps);
  rate_plan_init(&g.plan, g.encoder, g.fps);
  g.ctl.rate_changed = 1; /* a new encoder takes the path's ceilings too */
  apply_control();
  if (g.shrink.n > 1) picture_alloc(&g.pic, g.shrink.w, g.shrink.h);
  g.want_idr = 1;
}

/* Encodes the picture now (a new frame, the same one as an IDR, or the idle repeat) and plans the next wake-up. */
static void encode_now(int64_t captured) {
  encode_record(g.encoder, g.shrink.n > 1 ? &g.pic : &g.full, captured, g.want_idr);
  g.want_idr = 0;
  g.pending = 0;
  g.last_frame = now_us();
  arm(g.last_frame + IDLE_FRAME_US);
}

static void on_timer(void *data, uint64_t expirations) {
  (void)data, (void)expirations;
  if (!g.have_picture || g.ctl.paused) return;
  encode_now(g.pending ? g.pending_at : now_us());
}

/* Whether mutter put a picture in the buffer (it sends cursor-only updates with none). */
static int has_picture(const struct pw_buffer *b) {
  const struct spa_data *d = &b->buffer->datas[0];
  return d->data && d->chunk && d->chunk->size > 0;
}

/* Converts the buffer's picture and encodes it now, or when the rate ceiling allows. */
static void take_picture(const struct pw_buffer *b) {
  const struct spa_data *d = &b->buffer->datas[0];
  if (has_picture(b) && g.encoder) {
    int64_t captured = now_us();
    int stride = d->chunk->stride > 0 ? d->chunk->stride : g.width * 4;
    bgrx_to_i420((const uint8_t *)d->data + d->chunk->offset, stride, g.width, g.height, &g.full);
    if (g.shrink.n > 1) picture_shrink(&g.full, g.width, g.height, g.shrink.n, &g.pic);
    g.have_picture = 1;
    int64_t allowed = g.last_frame + (int64_t)(1e6 / (g.ceiling_fps * RATE_SLACK));
    if (g.want_idr || captured >= allowed) {
      encode_now(captured);
    } else {
      /* Early for the rate ceiling: the newest picture waits for its turn (a later one replaces it). */
      g.pending = 1;
      g.pending_at = captured;
      arm(allowed);
    }
  }
}

static void on_input(void *data, int fd, uint32_t mask) {
  (void)data;
  char buf[64];
  ssize_t n = (mask & SPA_IO_IN) ? read(fd, buf, sizeof buf) : 0;
  if (n <= 0) {
    pw_main_loop_quit(g.loop);
    return;
  }
  control_feed(&g.ctl, buf, n);
  if (g.ctl.want_idr) g.want_idr = 1;
  g.ctl.want_idr = 0;
  apply_control();
  if (g.ctl.pause_changed) {
    g.ctl.pause_changed = 0;
    if (!g.ctl.paused) {
      /* Someone watches again: the newest picture, now, as a keyframe (below). */
      g.want_idr = 1;
      if (g.kept) {
        struct pw_buffer *b = g.kept;
        g.kept = NULL;
        take_picture(b);
        pw_stream_queue_buffer(g.stream, b);
      }
    }
  }
  if (g.ctl.shrink_changed && g.encoder) {
    g.ctl.shrink_changed = 0;
    int was = g.shrink.n;
    if (shrink_set(&g.shrink, g.ctl.shrink, g.width, g.height)) {
      /* A new size is a new stream. The last whole picture is kept: the smaller (or whole) one
       * starts from it at once, as an IDR, even if mutter sends nothing new for a while. */
      if (was > 1) picture_free(&g.pic);
      open_for_shrink();
      if (g.have_picture && g.shrink.n > 1) picture_shrink(&g.full, g.width, g.height, g.shrink.n, &g.pic);
    }
  }
  if (g.want_idr && g.have_picture && !g.ctl.paused) encode_now(g.pending ? g.pending_at : now_us());
}

static void on_param_changed(void *data, uint32_t id, const struct spa_pod *param) {
  (void)data;
  if (id != SPA_PARAM_Format || !param) return;
  /* New buffers follow a new format: the kept one goes back while it is still the stream's. */
  if (g.kept) {
    pw_stream_queue_buffer(g.stream, g.kept);
    g.kept = NULL;
  }
  if (spa_format_video_raw_parse(param, &g.format) < 0) die("mutter offered a format that is not raw video");
  if (g.format.format != SPA_VIDEO_FORMAT_BGRx && g.format.format != SPA_VIDEO_FORMAT_BGRA)
    die("mutter offered a pixel format other than BGRx/BGRA");
  int w = (int)g.format.size.width - (int)g.format.size.width % 2; /* 4:2:0 needs even dimensions */
  int h = (int)g.format.size.height - (int)g.format.size.height % 2;
  if (w != g.width || h != g.height) {
    if (g.encoder) {
      picture_free(&g.full);
      if (g.shrink.n > 1) picture_free(&g.pic);
    }
    g.width = w, g.height = h;
    picture_alloc(&g.full, w, h);
    g.shrink.n = 0; /* the divisor asked for holds for the new size too */
    shrink_set(&g.shrink, g.ctl.shrink, w, h);
    open_for_shrink();
    g.have_picture = 0;
  }
  /* Buffers in memory we can read (no DMA-BUF: there is no GPU to import it into). */
  uint8_t buffer[1024];
  struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof buffer);
  const struct spa_pod *params[1];
  params[0] = spa_pod_builder_add_object(
      &b, SPA_TYPE_OBJECT_ParamBuffers, SPA_PARAM_Buffers, SPA_PARAM_BUFFERS_dataType,
      SPA_POD_Int((1 << SPA_DATA_MemPtr) | (1 << SPA_DATA_MemFd)));
  pw_stream_update_params(g.stream, params, 1);
}

static void on_process(void *data) {
  (void)data;
  struct pw_buffer *b = NULL, *newest;
  /* Only the newest picture matters: older ones queued meanwhile go straight back. */
  while ((newest = pw_stream_dequeue_buffer(g.stream))) {
    if (b) pw_stream_queue_buffer(g.stream, b);
    b = newest;
  }
  if (!b) return;
  if (g.ctl.paused && has_picture(b)) {
    if (g.kept) pw_stream_queue_buffer(g.stream, g.kept);
    g.kept = b;
    return;
  }
  if (!g.ctl.paused) take_picture(b);
  pw_stream_queue_buffer(g.stream, b);
}

static void on_state_changed(void *data, enum pw_stream_state old, enum pw_stream_state state, const char *error) {
  (void)data, (void)old;
  if (state == PW_STREAM_STATE_ERROR) {
    fprintf(stderr, "%s: stream error: %s\n", helper_name, error ? error : "unknown");
    pw_main_loop_quit(g.loop);
  } else if (state == PW_STREAM_STATE_UNCONNECTED) {
    pw_main_loop_quit(g.loop);
  }
}

static const struct pw_stream_events stream_events = {
    PW_VERSION_STREAM_EVENTS,
    .state_changed = on_state_changed,
    .param_changed = on_param_changed,
    .process = on_process,
};

int main(int argc, char **argv) {
  helper_name = "smoldesk-pw-grab";
  uint32_t node = 0;
  g.fps = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--node")) node = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--fps")) g.fps = atoi(v);
    else if (!strcmp(k, "--cursor")) continue;
    else if (!encoder_option(&g.enc, k, v)) die("unknown option");
  }
  if (!node || g.fps < 1 || g.fps > 240) die("bad --node or --fps");
  g.ceiling_fps = g.fps;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);

  pw_init(&argc, &argv);
  g.loop = pw_main_loop_new(NULL);
  struct pw_loop *loop = pw_main_loop_get_loop(g.loop);
  g.timer = pw_loop_add_timer(loop, on_timer, NULL);
  g.input = pw_loop_add_io(loop, STDIN_FILENO, SPA_IO_IN | SPA_IO_HUP | SPA_IO_ERR, false, on_input, NULL);
  g.stream = pw_stream_new_simple(loop, "smoldesk-pw-grab",
                                  pw_properties_new(PW_KEY_MEDIA_TYPE, "Video", PW_KEY_MEDIA_CATEGORY, "Capture",
                                                    PW_KEY_MEDIA_ROLE, "Screen", NULL),
                                  &stream_events, NULL);
  uint8_t buffer[1024];
  struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof buffer);
  const struct spa_pod *params[1];
  /* Frames no more often than --fps: mutter then draws no more than that for this stream. */
  params[0] = spa_pod_builder_add_object(
      &b, SPA_TYPE_OBJECT_Format, SPA_PARAM_EnumFormat, SPA_FORMAT_mediaType, SPA_POD_Id(SPA_MEDIA_TYPE_video),
      SPA_FORMAT_mediaSubtype, SPA_POD_Id(SPA_MEDIA_SUBTYPE_raw), SPA_FORMAT_VIDEO_format,
      SPA_POD_CHOICE_ENUM_Id(3, SPA_VIDEO_FORMAT_BGRx, SPA_VIDEO_FORMAT_BGRx, SPA_VIDEO_FORMAT_BGRA),
      SPA_FORMAT_VIDEO_size,
      SPA_POD_CHOICE_RANGE_Rectangle(&SPA_RECTANGLE(1920, 1080), &SPA_RECTANGLE(2, 2), &SPA_RECTANGLE(8192, 8192)),
      SPA_FORMAT_VIDEO_framerate, SPA_POD_Fraction(&SPA_FRACTION(0, 1)), SPA_FORMAT_VIDEO_maxFramerate,
      SPA_POD_CHOICE_RANGE_Fraction(&SPA_FRACTION((uint32_t)g.fps, 1), &SPA_FRACTION(1, 1),
                                    &SPA_FRACTION((uint32_t)g.fps, 1)));
  int res = pw_stream_connect(g.stream, PW_DIRECTION_INPUT, node,
                              PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS, params, 1);
  if (res < 0) {
    fprintf(stderr, "%s: cannot connect to node %u: %s\n", helper_name, node, spa_strerror(res));
    return 1;
  }
  pw_main_loop_run(g.loop);
  if (g.kept) pw_stream_queue_buffer(g.stream, g.kept);
  pw_stream_destroy(g.stream);
  if (g.encoder) encoder_close(g.encoder);
  pw_main_loop_destroy(g.loop);
  pw_deinit();
  return 0;
}
