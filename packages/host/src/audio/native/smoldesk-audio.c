/*
 * smoldesk-audio: the host's sound, both ways, through the sound server's
 * Pulse protocol (PulseAudio, or PipeWire's pipewire-pulse).
 *
 *   smoldesk-audio capture [--server S] --device SOURCE --bitrate BPS
 *       Records SOURCE (a sink's monitor: what the desktop plays) in 10 ms
 *       blocks of 48 kHz stereo and encodes each as one Opus frame in
 *       libopus's restricted low-delay mode (CELT only: 2.5 ms look-ahead
 *       instead of 6.5). In-band FEC is a SILK feature that mode excludes;
 *       at desktop-audio bitrates libopus picks CELT anyway, so a lost packet
 *       is concealed by the receiver's decoder instead.
 *       stdout: one record per frame: u32 BE length, u64 BE capture time of
 *       the frame's first sample in microseconds (CLOCK_MONOTONIC, the clock
 *       the video helpers stamp frames with), u8 flags (0), the Opus frame.
 *       stdin (optional): "b<bit/s>\n" sets the Opus bitrate from the next
 *       frame on (the path's share for sound, congestion control), 6000 to
 *       510000; anything else is ignored.
 *
 *   smoldesk-audio play [--server S] --device SINK --channels 1|2
 *       stdin: records of the same shape carrying Opus frames of any length
 *       (a browser's microphone); flags bit 1 = a frame was lost here, play
 *       the decoder's concealment instead. Decodes and plays into SINK with
 *       about 40 ms of buffer.
 *
 * Every value was checked by SmolDesk before it got here. Exits when stdout
 * (capture) or stdin (play) closes, or when its parent dies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <opus/opus.h>
#include <poll.h>
#include <pulse/error.h>
#include <pulse/simple.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define RATE 48000
#define MAX_FRAME_SAMPLES 960 /* 20 ms: the longest frame capture makes */
#define MAX_DECODED_SAMPLES 5760 /* 120 ms, Opus's longest frame */
#define MAX_PACKET 4000
#define FLAG_LOST 2

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int write_all(const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDOUT_FILENO, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(STDIN_FILENO, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static void put_be(uint8_t *p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--) {
    p[i] = (uint8_t)(v & 0xff);
    v >>= 8;
  }
}

static uint64_t get_be(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = (v << 8) | p[i];
  return v;
}

/* The bitrate commands on stdin, read without waiting (a closed or absent stdin is no command). */
struct rate_input {
  int open;
  int reading; /* inside a "b" command */
  long value;
};

/* Reads what stdin holds now; returns the last bitrate asked for in it (bit/s), or 0. */
static int rate_input_poll(struct rate_input *in) {
  int asked = 0;
  while (in->open) {
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP))) break;
    char buf[256];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      in->open = 0;
      break;
    }
    for (ssize_t i = 0; i < n; i++) {
      char ch = buf[i];
      if (in->reading && ch >= '0' && ch <= '9') {
        if (in->value < 10000000) in->value = in->value * 10 + (ch - '0');
        continue;
      }
      if (in->reading && ch == '\n' && in->value >= 6000 && in->value <= 510000) asked = (int)in->value;
      in->reading = ch == 'b';
      in->value = 0;
    }
  }
  return asked;
}

static int capture(const char *server, const char *device, int bitrate, int frame_ms) {
  const int frame_samples = RATE / 1000 * frame_ms;
  pa_sample_spec spec = {.format = PA_SAMPLE_S16LE, .rate = RATE, .channels = 2};
  const uint32_t block = (uint32_t)frame_samples * 2 * sizeof(int16_t);
  /*
   * fragsize = 2.5 ms: the server (a null sink renders in blocks of its
   * clients' latency) hands over every 2.5 ms, so a frame is complete at
   * most 2.5 ms after its last sample. With fragments of a whole 10 ms frame,
   * frames came in pairs (interval p99 19 ms) and the viewer's jitter buffer
   * grew to match; at 2.5 ms the intervals are 7.6–10.9 ms (p1–p99).
   */
  pa_buffer_attr attr = {.maxlength = (uint32_t)-1, .fragsize = RATE / 400 * 2 * sizeof(int16_t)};
  int err = 0;
  pa_simple *pa = pa_simple_new(server, "SmolDesk", PA_STREAM_RECORD, device, "desktop audio for viewers",
                                &spec, NULL, &attr, &err);
  if (!pa) {
    fprintf(stderr, "smoldesk-audio: cannot record %s: %s\n", device, pa_strerror(err));
    return 3;
  }
  OpusEncoder *enc = opus_encoder_create(RATE, 2, OPUS_APPLICATION_RESTRICTED_LOWDELAY, &err);
  if (!enc) {
    fprintf(stderr, "smoldesk-audio: opus encoder: %s\n", opus_strerror(err));
    return 4;
  }
  opus_encoder_ctl(enc, OPUS_SET_BITRATE(bitrate));
  opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(5));
  int16_t pcm[MAX_FRAME_SAMPLES * 2];
  uint8_t record[13 + MAX_PACKET];
  fprintf(stderr, "smoldesk-audio: recording %s, opus %d bit/s, %d ms frames\n", device, bitrate, frame_ms);
  struct rate_input rates = {.open = 1};
  for (;;) {
    int asked = rate_input_poll(&rates);
    if (asked > 0 && asked != bitrate) {
      bitrate = asked;
      opus_encoder_ctl(enc, OPUS_SET_BITRATE(bitrate));
    }
    if (pa_simple_read(pa, pcm, block, &err) < 0) {
      fprintf(stderr, "smoldesk-audio: recording failed: %s\n", pa_strerror(err));
      return 5;
    }
    /* The block's last sample was recorded `latency` ago: its first one 10 ms before that. */
    pa_usec_t latency = pa_simple_get_latency(pa, &err);
    if (latency == (pa_usec_t)-1) latency = 0;
    uint64_t first_us = now_us() - latency - (uint64_t)frame_samples * 1000000u / RATE;
    int n = opus_encode(enc, pcm, frame_samples, record + 13, MAX_PACKET);
    if (n < 0) {
      fprintf(stderr, "smoldesk-audio: opus_encode: %s\n", opus_strerror(n));
      return 4;
    }
    put_be(record, (uint64_t)n, 4);
    put_be(record + 4, first_us, 8);
    record[12] = 0;
    if (write_all(record, 13 + (size_t)n) < 0) return 0; /* SmolDesk closed the pipe */
  }
}

static int play(const char *server, const char *device, int channels) {
  pa_sample_spec spec = {.format = PA_SAMPLE_S16LE, .rate = RATE, .channels = (uint8_t)channels};
  /* ~40 ms queued at most: enough to ride out network jitter, little enough for a conversation. */
  uint32_t bytes_per_ms = RATE / 1000 * (uint32_t)channels * sizeof(int16_t);
  pa_buffer_attr attr = {.maxlength = (uint32_t)-1,
                         .tlength = 40 * bytes_per_ms,
                         .prebuf = 20 * bytes_per_ms,
                         .minreq = (uint32_t)-1,
                         .fragsize = (uint32_t)-1};
  int err = 0;
  pa_simple *pa = pa_simple_new(server, "SmolDesk", PA_STREAM_PLAYBACK, device, "viewer microphone", &spec,
                                NULL, &attr, &err);
  if (!pa) {
    fprintf(stderr, "smoldesk-audio: cannot play into %s: %s\n", device, pa_strerror(err));
    return 3;
  }
  OpusDecoder *dec = opus_decoder_create(RATE, channels, &err);
  if (!dec) {
    fprintf(stderr, "smoldesk-audio: opus decoder: %s\n", opus_strerror(err));
    return 4;
  }
  static int16_t pcm[MAX_DECODED_SAMPLES * 2];
  uint8_t header[13];
  uint8_t packet[MAX_PACKET];
  int last_samples = RATE / 100; /* a lost frame is concealed with the last frame's length (10 ms at first) */
  fprintf(stderr, "smoldesk-audio: playing into %s, %d channel(s)\n", device, channels);
  for (;;) {
    if (read_all(header, sizeof header) < 0) return 0; /* SmolDesk closed the pipe */
    uint32_t length = (uint32_t)get_be(header, 4);
    if (length > MAX_PACKET) {
      fprintf(stderr, "smoldesk-audio: record of %u bytes refused\n", length);
      return 2;
    }
    if (length > 0 && read_all(packet, length) < 0) return 0;
    int lost = (header[12] & FLAG_LOST) != 0;
    int n = lost || length == 0 ? opus_decode(dec, NULL, 0, pcm, last_samples, 0)
                                : opus_decode(dec, packet, (opus_int32)length, pcm, MAX_DECODED_SAMPLES, 0);
    if (n < 0) continue; /* a frame the decoder refuses is skipped, not fatal */
    last_samples = n;
    if (pa_simple_write(pa, pcm, (size_t)n * (size_t)channels * sizeof(int16_t), &err) < 0) {
      fprintf(stderr, "smoldesk-audio: playing failed: %s\n", pa_strerror(err));
      return 5;
    }
  }
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    fprintf(stderr, "usage: smoldesk-audio capture|play [--server S] --device D [--bitrate B] [--channels C]\n");
    return 2;
  }
  const char *mode = argv[1], *server = NULL, *device = NULL;
  int bitrate = 128000, channels = 2, frame_ms = 10;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--server") == 0) server = argv[i + 1];
    else if (strcmp(argv[i], "--device") == 0) device = argv[i + 1];
    else if (strcmp(argv[i], "--bitrate") == 0) bitrate = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--channels") == 0) channels = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--frame-ms") == 0) frame_ms = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "smoldesk-audio: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (!device || bitrate < 6000 || bitrate > 510000 || channels < 1 || channels > 2 ||
      (frame_ms != 5 && frame_ms != 10 && frame_ms != 20)) {
    fprintf(stderr, "smoldesk-audio: --device is required; bitrate 6000-510000, channels 1-2, frame 5|10|20 ms\n");
    return 2;
  }
  if (strcmp(mode, "capture") == 0) return capture(server, device, bitrate, frame_ms);
  if (strcmp(mode, "play") == 0) return play(server, device, channels);
  fprintf(stderr, "smoldesk-audio: unknown mode %s\n", mode);
  return 2;
}
