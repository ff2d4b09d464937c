/*
 * The libx264 side of SmolDesk's capture helpers (smoldesk-grab on X11,
 * smoldesk-wl-grab on wlroots, smoldesk-pw-grab on GNOME): one encoder set up
 * from the host's options, its frame records (helper-records.h) as H.264
 * Annex B with SPS/PPS repeated before every IDR, and its rate changed while
 * it runs. vp8-records.h is the same for libvpx, under the same names, so
 * smoldesk-grab builds with either.
 */
#ifndef SMOLDESK_X264_RECORDS_H
#define SMOLDESK_X264_RECORDS_H

#include <x264.h>

#include "helper-records.h"

#define MAX_PARAMS 32

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

typedef x264_t encoder_t;
typedef x264_picture_t picture_t;

static inline void picture_alloc(picture_t *pic, int w, int h) {
  if (x264_picture_alloc(pic, X264_CSP_I420, w, h) < 0) die("out of memory");
}

static inline void picture_free(picture_t *pic) {
  x264_picture_clean(pic);
}

/* BGRX → the picture's planes (helper-records.h). */
static inline void bgrx_to_i420(const uint8_t *src, int stride, int w, int h, picture_t *pic) {
  bgrx_to_i420_planes(src, stride, w, h, pic->img.plane, pic->img.i_stride);
}

/* Whether the encoder holds frames back until more arrive (lookahead, B-frames, frame threads). */
static inline int encoder_holds_frames(encoder_t *encoder) {
  return x264_encoder_maximum_delayed_frames(encoder) > 0;
}

static inline void encoder_close(encoder_t *encoder) {
  x264_encoder_close(encoder);
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

/* An I420 picture of w × h → its 1/n (helper-records.h), into dst allocated at that size. */
static inline void picture_shrink(const picture_t *src, int w, int h, int n, picture_t *dst) {
  const uint8_t *const in[3] = {src->img.plane[0], src->img.plane[1], src->img.plane[2]};
  uint8_t *const out[3] = {dst->img.plane[0], dst->img.plane[1], dst->img.plane[2]};
  i420_shrink_planes(in, src->img.i_stride, w, h, n, out, dst->img.i_stride);
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
  /* The frame's own capture time, also when B-frames reorder; x264 lays the NALs out back to back. */
  if (size > 0) write_record(nals[0].p_payload, size, (uint64_t)out.i_pts, out.b_keyframe);
  return size;
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
