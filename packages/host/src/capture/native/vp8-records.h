/*
 * The libvpx (VP8) side of smoldesk-grab, under the names x264-records.h
 * uses, so the one grab loop builds with either (-DSMOLDESK_GRAB_VP8).
 *
 * Why not ffmpeg's libvpx: its CLI cannot be asked for a keyframe (a viewer
 * that lost a frame waits up to a GOP, a second, for the next one: Firefox,
 * which has no H.264 here, froze that long on lossy links) nor given a new
 * bitrate while it runs (congestion control could only pace, not shrink,
 * what the encoder makes). libvpx does both in place:
 * VPX_EFLAG_FORCE_KF and vpx_codec_enc_config_set.
 *
 * Settings as ffmpeg's command line has them (encoder-args.ts): realtime
 * deadline, --cpu-used, no lag, error resilient, a fixed GOP, constant
 * quality (--cq-level) under a bitrate ceiling (--kbps) or VBR/CBR at
 * --kbps. Every value was checked by SmolDesk (vp8-helper-args.ts); libvpx
 * refuses what it cannot take, and the helper then exits saying so.
 *
 * A record's frame is one VP8 frame (RFC 6386), as vp8-rtp.ts packetizes it.
 */
#ifndef SMOLDESK_VP8_RECORDS_H
#define SMOLDESK_VP8_RECORDS_H

#include <vpx/vp8cx.h>
#include <vpx/vpx_encoder.h>

#include "helper-records.h"

struct encoder_options {
  int cpu_used;    /* VP8E_SET_CPUUSED: 4 (Quality) … 8 (UltraLow) */
  int gop;         /* frames from one keyframe to the next */
  int end_usage;   /* VPX_CQ, VPX_VBR or VPX_CBR */
  int cq_level;    /* 0–63, with VPX_CQ */
  int kbps;        /* the target (VBR/CBR) or the ceiling (CQ) */
  int buffer_ms;   /* the rate buffer, 0 = libvpx's */
  int threads;     /* 0 = one per core, at most 4 */
};

/* Takes the VP8 options; returns 0 for an option that is not one of them. */
static int encoder_option(struct encoder_options *o, const char *k, const char *v) {
  if (!strcmp(k, "--cpu-used")) o->cpu_used = atoi(v);
  else if (!strcmp(k, "--gop")) o->gop = atoi(v);
  else if (!strcmp(k, "--cq-level")) o->cq_level = atoi(v);
  else if (!strcmp(k, "--kbps")) o->kbps = atoi(v);
  else if (!strcmp(k, "--buffer-ms")) o->buffer_ms = atoi(v);
  else if (!strcmp(k, "--threads")) o->threads = atoi(v);
  else if (!strcmp(k, "--end-usage")) {
    if (!strcmp(v, "cq")) o->end_usage = VPX_CQ;
    else if (!strcmp(v, "vbr")) o->end_usage = VPX_VBR;
    else if (!strcmp(v, "cbr")) o->end_usage = VPX_CBR;
    else die("--end-usage takes cq, vbr or cbr");
  } else return 0;
  return 1;
}

typedef struct {
  vpx_codec_ctx_t codec;
  vpx_codec_enc_cfg_t cfg;
  int64_t pts;    /* in frames' durations at the current frame rate, microseconds */
  int fps;        /* what rate control assumes now */
  int cpu_used;   /* as asked: libvpx picks the speed from it, or holds it (see apply_rate) */
  int held;       /* the speed is held (a ceiling came), for as long as this encoder lives */
  int end_usage;  /* as asked (see apply_rate for what the path's ceilings make of constant quality) */
  int cq_level;   /* with VPX_CQ: the quality asked */
  int ceiling;    /* the config's own bitrate ceiling applies (it set a bitrate) */
  unsigned min_q, max_q; /* the quantizer's bounds as opened */
} encoder_t;

typedef vpx_image_t picture_t;

static inline void picture_alloc(picture_t *pic, int w, int h) {
  if (!vpx_img_alloc(pic, VPX_IMG_FMT_I420, (unsigned)w, (unsigned)h, 32)) die("out of memory");
}

static inline void picture_free(picture_t *pic) {
  vpx_img_free(pic);
}

static inline void bgrx_to_i420(const uint8_t *src, int stride, int w, int h, picture_t *pic) {
  uint8_t *const planes[3] = {pic->planes[0], pic->planes[1], pic->planes[2]};
  const int strides[3] = {pic->stride[0], pic->stride[1], pic->stride[2]};
  bgrx_to_i420_planes(src, stride, w, h, planes, strides);
}

/* An I420 picture of w × h → its 1/n (helper-records.h), into dst allocated at that size. */
static inline void picture_shrink(const picture_t *src, int w, int h, int n, picture_t *dst) {
  const uint8_t *const in[3] = {src->planes[0], src->planes[1], src->planes[2]};
  const int in_stride[3] = {src->stride[0], src->stride[1], src->stride[2]};
  uint8_t *const out[3] = {dst->planes[0], dst->planes[1], dst->planes[2]};
  const int out_stride[3] = {dst->stride[0], dst->stride[1], dst->stride[2]};
  i420_shrink_planes(in, in_stride, w, h, n, out, out_stride);
}

/* Never: no lag in frames, so each frame comes out of the call that took it in. */
static inline int encoder_holds_frames(encoder_t *encoder) {
  (void)encoder;
  return 0;
}

static void vpx_check(encoder_t *e, vpx_codec_err_t err, const char *what) {
  if (err == VPX_CODEC_OK) return;
  const char *detail = vpx_codec_error_detail(&e->codec);
  fprintf(stderr, "%s: libvpx refused %s: %s%s%s\n", helper_name, what, vpx_codec_err_to_string(err),
          detail ? ": " : "", detail ? detail : "");
  exit(1);
}

/* What the host passes as --kbps when the config sets no bitrate (HELPER_VBV_CEILING_KBPS): no ceiling. */
#define NO_CEILING_KBPS 60000

static encoder_t *open_encoder(const struct encoder_options *o, int w, int h, int fps) {
  encoder_t *e = calloc(1, sizeof *e);
  if (!e) die("out of memory");
  vpx_check(e, vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &e->cfg, 0), "the default configuration");
  vpx_codec_enc_cfg_t *c = &e->cfg;
  c->g_w = (unsigned)w;
  c->g_h = (unsigned)h;
  /* Timestamps in microseconds, advanced by 1/fps a frame whenever it was grabbed: as with x264,
   * rate control must assume the frame rate, not learn it from a still screen's one frame a second
   * (which would hand the first frame after it a second's worth of bits, one burst into the link). */
  c->g_timebase.num = 1;
  c->g_timebase.den = 1000000;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  c->g_threads = (unsigned)(o->threads > 0 ? o->threads : cores > 4 ? 4 : cores > 0 ? cores : 1);
  c->g_lag_in_frames = 0;
  c->g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
  c->g_pass = VPX_RC_ONE_PASS;
  c->rc_end_usage = (enum vpx_rc_mode)o->end_usage;
  c->rc_target_bitrate = (unsigned)(o->kbps > 0 ? o->kbps : NO_CEILING_KBPS);
  c->rc_dropframe_thresh = 0; /* a change the user made is never skipped */
  /* A full rate buffer lets CBR raise a frame's target by up to half this percentage (vp8's
   * ratectrl.c): at libvpx's 100, a ceiling rising after a stretch under it let frames out at 1.5×
   * (3.4 Mbit/s under 2.1, a 3 Mbit/s link's queue overflowing, Firefox's picture still for 0.7 s).
   * WebRTC's VP8 encoder allows 15. */
  c->rc_undershoot_pct = 100;
  c->rc_overshoot_pct = 15;
  /* The rate buffer: libvpx's own is 6 s, over which a ceiling the path sets would only hold on
   * average; one second (WebRTC's choice) holds it within a second or two. */
  int buffer_ms = o->buffer_ms > 0 ? o->buffer_ms : 1000;
  c->rc_buf_sz = (unsigned)buffer_ms;
  c->rc_buf_initial_sz = (unsigned)(buffer_ms / 2);
  c->rc_buf_optimal_sz = (unsigned)(buffer_ms * 3 / 5);
  c->kf_mode = VPX_KF_AUTO;
  c->kf_min_dist = 0;
  c->kf_max_dist = (unsigned)(o->gop > 0 ? o->gop : 30);
  vpx_check(e, vpx_codec_enc_init(&e->codec, vpx_codec_vp8_cx(), c, 0), "the encoder configuration");
  vpx_check(e, vpx_codec_control(&e->codec, VP8E_SET_CPUUSED, o->cpu_used), "--cpu-used");
  if (o->end_usage == VPX_CQ)
    vpx_check(e, vpx_codec_control(&e->codec, VP8E_SET_CQ_LEVEL, o->cq_level), "--cq-level");
  /* More threads need more token partitions to work on at once (one per thread, up to 4). */
  int partitions = c->g_threads >= 4 ? VP8_FOUR_TOKENPARTITION
                   : c->g_threads >= 2 ? VP8_TWO_TOKENPARTITION
                                       : VP8_ONE_TOKENPARTITION;
  vpx_check(e, vpx_codec_control(&e->codec, VP8E_SET_TOKEN_PARTITIONS, partitions), "token partitions");
  e->fps = fps;
  e->cpu_used = o->cpu_used;
  e->end_usage = o->end_usage;
  e->cq_level = o->cq_level;
  e->ceiling = o->kbps > 0 && o->kbps < NO_CEILING_KBPS;
  e->min_q = c->rc_min_quantizer;
  e->max_q = c->rc_max_quantizer;
  return e;
}

/* Encodes one picture captured at `captured_us` and writes its record; returns the bytes written. */
static int encode_record(encoder_t *e, picture_t *pic, int64_t captured_us, int idr) {
  unsigned long duration = (unsigned long)(1000000 / e->fps);
  vpx_check(e,
            vpx_codec_encode(&e->codec, pic, e->pts, duration, idr ? VPX_EFLAG_FORCE_KF : 0,
                             VPX_DL_REALTIME),
            "a frame");
  e->pts += (int64_t)duration;
  int size = 0;
  vpx_codec_iter_t iter = NULL;
  const vpx_codec_cx_pkt_t *pkt;
  while ((pkt = vpx_codec_get_cx_data(&e->codec, &iter)) != NULL) {
    if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
    int n = (int)pkt->data.frame.sz;
    write_record(pkt->data.frame.buf, n, (uint64_t)captured_us, (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0);
    size += n;
  }
  return size;
}

/* The encoder's bitrate as opened: the path's ceilings are applied below it. */
struct rate_plan {
  int open_kbps;
};

static void rate_plan_init(struct rate_plan *r, encoder_t *e, int fps) {
  (void)fps;
  r->open_kbps = (int)e->cfg.rc_target_bitrate;
}

/*
 * libvpx makes more than its target under a ceiling (435–447 kbit/s under 400 with CQ, 295–463 with
 * the CBR it now runs there, measured), and more while it spends what its buffer saved: the path's
 * ceiling is what the path carries, so it is handed over less that overshoot.
 */
#define PATH_TARGET_SHARE 0.85

/*
 * Applies the path's ceiling `kbps` (0: as opened) at `fps` frames a second. libvpx budgets each
 * frame as the bitrate × its duration, and the durations follow fps (encode_record), so fewer
 * frames a second keep the same bitrate. The rate buffer keeps its length in milliseconds.
 *
 * Under a ceiling the speed is held at --cpu-used (libvpx's negative form), as WebRTC's VP8
 * encoder holds it. A positive --cpu-used lets libvpx raise the speed whenever a frame takes
 * longer than its share of the frame time, and on a busy machine it went to the fastest
 * settings, whose frames outgrow what rate control asked even at the coarsest quantizer: 654–870
 * kbit/s under a 400 kbit/s ceiling with one other core busy, measured, against 359–391 held.
 * It stays held once the ceiling lifts: handed back, libvpx restarted from a slow speed and
 * grabbed 14.6 frames/s for the 3 s measured after a lift (CI), against 29.7 before the ceiling.
 */
static int apply_rate(encoder_t *e, const struct rate_plan *r, int kbps, int fps) {
  int capped = kbps > 0 && kbps < r->open_kbps;
  e->cfg.rc_target_bitrate = (unsigned)(capped ? kbps * PATH_TARGET_SHARE : r->open_kbps);
  if (e->end_usage == VPX_CQ) {
    /* Constant quality under the path's ceilings: libvpx's one-pass VBR and CQ floor each frame's
     * quantizer at a function of the average quantizer of every frame since the encoder opened
     * (ni_av_qi in vp8/encoder: active_best_quality = inter_minq[that average]), which no setting
     * resets. After a while under a low ceiling that average is high, and once the ceiling rose
     * frames stayed far coarser than the target allowed: 1.0-1.2 Mbit/s against 2.2-2.6 before
     * the ceiling, its quantizer 36-40 where 20 was asked, for the 5 s measured (grab.test.ts, a
     * core kept busy); and a path estimate rises only with what the encoder sends. CBR lowers
     * that floor to the best quality whenever its rate buffer is full, so: under a ceiling CBR,
     * spending at most the ceiling; with none, CBR pinned to the asked quality (the quantizer's
     * bounds both at it), which is constant quality again. Measured the same way: back at
     * 2.24-2.31 Mbit/s and quantizer 20 within a second of the lift (free: 1.9-2.4), and 295-463
     * kbit/s under a 400 kbit/s ceiling (CQ: 359-447), six runs. A config with a bitrate of its
     * own keeps CQ under that bitrate, where the quantizer must be free. */
    int pinned = !capped && !e->ceiling && e->cq_level >= 0 && e->cq_level <= 63;
    e->cfg.rc_end_usage = capped || pinned ? VPX_CBR : VPX_CQ;
    e->cfg.rc_min_quantizer = pinned ? (unsigned)e->cq_level : e->min_q;
    e->cfg.rc_max_quantizer = pinned ? (unsigned)e->cq_level : e->max_q;
  }
  if (fps > 0) e->fps = fps;
  if (vpx_codec_enc_config_set(&e->codec, &e->cfg) != VPX_CODEC_OK) return 0;
  if (!capped || e->held) return 1;
  e->held = 1;
  return vpx_codec_control(&e->codec, VP8E_SET_CPUUSED, -e->cpu_used) == VPX_CODEC_OK;
}

static inline void encoder_close(encoder_t *e) {
  vpx_codec_destroy(&e->codec);
  free(e);
}

#endif
