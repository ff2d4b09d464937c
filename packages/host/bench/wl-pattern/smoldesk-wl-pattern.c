/*
 * smoldesk-wl-pattern: the latency benchmark's scene as a Wayland client (the
 * X11 one is pattern-app.ts). A full-screen window that draws, at a given
 * rate, busy content and the timestamp pattern of pattern.ts: 24 bits of the
 * drawing time (ms modulo 2^24) and an 8-bit checksum, one black or white
 * 24-px square per bit at (32, 32).
 *
 *   smoldesk-wl-pattern HZ rects|photo|pattern WIDTH HEIGHT [PHOTO.bgrx]
 *
 * WIDTH x HEIGHT is the monitor's size: the window's until the compositor
 * says otherwise (sway's first configure has no size; it sizes a full-screen
 * window once it is mapped).
 *
 * rects: 40 random rectangles a frame over the last frame; photo: a picture
 * (raw BGRx, made by photo.ts so both desktops show the same one) panned by
 * 4 px a frame, every pixel changing; pattern: the squares alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <wayland-client.h>

#include "xdg-shell-client-protocol.h"

#define CELL 24
#define ORIGIN 32
#define TIME_BITS 24
#define CHECK_BITS 8
#define BUFFERS 3

static struct wl_compositor *compositor;
static struct wl_shm *shm;
static struct xdg_wm_base *wm_base;
static int width, height, configured;

typedef struct {
  struct wl_buffer *buffer;
  uint32_t *pixels;
  int busy;
} Buffer;

static Buffer buffers[BUFFERS];

static void registry_global(void *data, struct wl_registry *registry, uint32_t name, const char *iface,
                            uint32_t version) {
  (void)data, (void)version;
  if (strcmp(iface, wl_compositor_interface.name) == 0)
    compositor = wl_registry_bind(registry, name, &wl_compositor_interface, 4);
  else if (strcmp(iface, wl_shm_interface.name) == 0)
    shm = wl_registry_bind(registry, name, &wl_shm_interface, 1);
  else if (strcmp(iface, xdg_wm_base_interface.name) == 0)
    wm_base = wl_registry_bind(registry, name, &xdg_wm_base_interface, 1);
}
static void registry_remove(void *data, struct wl_registry *registry, uint32_t name) {
  (void)data, (void)registry, (void)name;
}
static const struct wl_registry_listener registry_listener = {registry_global, registry_remove};

static void wm_ping(void *data, struct xdg_wm_base *base, uint32_t serial) {
  (void)data;
  xdg_wm_base_pong(base, serial);
}
static const struct xdg_wm_base_listener wm_listener = {wm_ping};

static void surface_configure(void *data, struct xdg_surface *surface, uint32_t serial) {
  (void)data;
  xdg_surface_ack_configure(surface, serial);
  configured = 1;
}
static const struct xdg_surface_listener surface_listener = {surface_configure};

static void toplevel_configure(void *data, struct xdg_toplevel *t, int32_t w, int32_t h, struct wl_array *s) {
  (void)data, (void)t, (void)s;
  /* The buffers are made once, at the first size: later sizes are the compositor catching up. */
  if (w > 0 && h > 0 && !buffers[0].buffer) width = w, height = h;
}
static void toplevel_close(void *data, struct xdg_toplevel *t) {
  (void)data, (void)t;
  exit(0);
}
static const struct xdg_toplevel_listener toplevel_listener = {.configure = toplevel_configure,
                                                              .close = toplevel_close};

static void buffer_release(void *data, struct wl_buffer *b) {
  (void)b;
  ((Buffer *)data)->busy = 0;
}
static const struct wl_buffer_listener buffer_listener = {buffer_release};

static void make_buffers(void) {
  size_t size = (size_t)width * height * 4;
  int fd = memfd_create("smoldesk-wl-pattern", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)(size * BUFFERS)) < 0) {
    perror("memfd");
    exit(1);
  }
  uint8_t *map = mmap(NULL, size * BUFFERS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  struct wl_shm_pool *pool = wl_shm_create_pool(shm, fd, (int32_t)(size * BUFFERS));
  for (int i = 0; i < BUFFERS; i++) {
    buffers[i].pixels = (uint32_t *)(map + size * i);
    buffers[i].buffer =
        wl_shm_pool_create_buffer(pool, (int32_t)(size * i), width, height, width * 4, WL_SHM_FORMAT_XRGB8888);
    wl_buffer_add_listener(buffers[i].buffer, &buffer_listener, &buffers[i]);
    for (int p = 0; p < width * height; p++) buffers[i].pixels[p] = 0x202020;
  }
  wl_shm_pool_destroy(pool);
  close(fd);
}

static uint32_t checksum(uint32_t v) {
  return ((v & 0xff) * 7 + ((v >> 8) & 0xff) * 13 + ((v >> 16) & 0xff) * 29 + 0x5a) & 0xff;
}

static void fill(uint32_t *px, int x, int y, int w, int h, uint32_t colour) {
  if (x < 0) w += x, x = 0;
  if (y < 0) h += y, y = 0;
  if (x + w > width) w = width - x;
  if (y + h > height) h = height - y;
  for (int row = y; row < y + h; row++)
    for (int col = x; col < x + w; col++) px[row * width + col] = colour;
}

static void draw_pattern(uint32_t *px) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
  uint32_t value = (uint32_t)(ms % (1u << TIME_BITS));
  uint64_t word = (uint64_t)value * 256 + checksum(value);
  for (int i = 0; i < TIME_BITS + CHECK_BITS; i++) {
    int bit = (word >> (TIME_BITS + CHECK_BITS - 1 - i)) & 1;
    fill(px, ORIGIN + i * CELL, ORIGIN, CELL, CELL, bit ? 0xffffff : 0x000000);
  }
}

int main(int argc, char **argv) {
  if (argc < 5 || atoi(argv[3]) <= 0 || atoi(argv[4]) <= 0) {
    fprintf(stderr, "usage: smoldesk-wl-pattern HZ rects|photo|pattern WIDTH HEIGHT [PHOTO.bgrx]\n");
    return 2;
  }
  double hz = atof(argv[1]);
  const char *scene = argv[2];
  width = atoi(argv[3]), height = atoi(argv[4]);
  uint32_t *photo = NULL;
  /* The picture is the monitor's size, made by photo.ts. */
  int photo_w = width, photo_h = height;
  if (strcmp(scene, "photo") == 0) {
    if (argc < 6) {
      fprintf(stderr, "photo needs PHOTO.bgrx\n");
      return 2;
    }
    int fd = open(argv[5], O_RDONLY | O_CLOEXEC);
    photo = fd < 0 ? MAP_FAILED : mmap(NULL, (size_t)photo_w * photo_h * 4, PROT_READ, MAP_PRIVATE, fd, 0);
    if (photo == MAP_FAILED) {
      perror(argv[5]);
      return 1;
    }
  }
  struct wl_display *display = wl_display_connect(NULL);
  if (!display) {
    fprintf(stderr, "no Wayland display\n");
    return 1;
  }
  struct wl_registry *registry = wl_display_get_registry(display);
  wl_registry_add_listener(registry, &registry_listener, NULL);
  wl_display_roundtrip(display);
  if (!compositor || !shm || !wm_base) {
    fprintf(stderr, "the compositor lacks wl_compositor, wl_shm or xdg_wm_base\n");
    return 1;
  }
  xdg_wm_base_add_listener(wm_base, &wm_listener, NULL);
  struct wl_surface *surface = wl_compositor_create_surface(compositor);
  struct xdg_surface *xsurface = xdg_wm_base_get_xdg_surface(wm_base, surface);
  xdg_surface_add_listener(xsurface, &surface_listener, NULL);
  struct xdg_toplevel *toplevel = xdg_surface_get_toplevel(xsurface);
  xdg_toplevel_add_listener(toplevel, &toplevel_listener, NULL);
  xdg_toplevel_set_title(toplevel, "SmolDesk latency pattern");
  xdg_toplevel_set_fullscreen(toplevel, NULL);
  wl_surface_commit(surface);
  while (!configured)
    if (wl_display_dispatch(display) < 0) return 1;
  make_buffers();

  int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  long period_ns = (long)(1e9 / (hz > 0 ? hz : 60));
  struct itimerspec spec = {{period_ns / 1000000000, period_ns % 1000000000},
                            {period_ns / 1000000000, period_ns % 1000000000}};
  timerfd_settime(timer, 0, &spec, NULL);
  srand(1);
  int last = -1, offset = 0;
  for (;;) {
    wl_display_flush(display);
    struct pollfd fds[2] = {{wl_display_get_fd(display), POLLIN, 0}, {timer, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return 1;
    if (fds[0].revents & POLLIN) {
      if (wl_display_dispatch(display) < 0) return 0; /* the compositor is gone */
    }
    if (!(fds[1].revents & POLLIN)) continue;
    uint64_t ticks;
    if (read(timer, &ticks, sizeof ticks) < 0) continue;
    int next = -1;
    for (int i = 0; i < BUFFERS; i++)
      if (!buffers[i].busy && i != last) {
        next = i;
        break;
      }
    if (next < 0) continue; /* the compositor holds every buffer: this frame is skipped */
    uint32_t *px = buffers[next].pixels;
    if (photo) {
      offset = (offset + 4) % photo_w;
      for (int y = 0; y < height; y++) {
        const uint32_t *src = photo + (size_t)(y % photo_h) * photo_w;
        for (int x = 0; x < width; x++) px[y * width + x] = src[(x + offset) % photo_w];
      }
    } else {
      if (last >= 0) memcpy(px, buffers[last].pixels, (size_t)width * height * 4);
      if (strcmp(scene, "rects") == 0)
        for (int r = 0; r < 40; r++)
          fill(px, rand() % width, rand() % height, 20 + rand() % 200, 20 + rand() % 150,
               (uint32_t)rand() & 0xffffff);
    }
    draw_pattern(px);
    wl_surface_attach(surface, buffers[next].buffer, 0, 0);
    wl_surface_damage_buffer(surface, 0, 0, width, height);
    wl_surface_commit(surface);
    buffers[next].busy = 1;
    last = next;
  }
}
