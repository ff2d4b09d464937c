/*
 * smoldesk-wl-input: remote input into a wlroots compositor (sway and
 * others with the same protocols) through one persistent Wayland client —
 * a virtual pointer (zwlr_virtual_pointer_v1) and a virtual keyboard
 * (zwp_virtual_keyboard_v1) — instead of a process per event (wtype costs
 * ~12 ms a key).
 *
 * Commands, one per line on stdin (numbers in decimal):
 *   M x y w h         pointer to (x, y) of a w×h layout, absolute
 *   R dx dy           pointer moved by (dx, dy)
 *   B code state      pointer button (evdev code, 1 pressed / 0 released)
 *   A axis steps      wheel: axis 0 vertical / 1 horizontal, steps (±, 15° each)
 *   K code state      keyboard key (evdev code)
 *   D dep lat lock grp  modifier state (the compositor does not track a virtual keyboard's)
 *   X size            keymap follows: exactly size bytes of XKB text (v1), then the next command
 *   S                 sync: answers "S" on stdout once the compositor processed everything before
 * Startup prints "ready" when both devices exist; a missing protocol is an
 * "error ..." line and exit status 2. The keymap is passed in a memfd, as
 * the protocol requires; nothing here spawns or touches files.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <wayland-client.h>

#include "virtual-keyboard-unstable-v1-client-protocol.h"
#include "wlr-virtual-pointer-unstable-v1-client-protocol.h"

#define WHEEL_DEGREES 15

static struct wl_seat *seat;
static struct zwlr_virtual_pointer_manager_v1 *pointer_manager;
static struct zwp_virtual_keyboard_manager_v1 *keyboard_manager;

static void on_global(void *data, struct wl_registry *registry, uint32_t name, const char *interface,
                      uint32_t version) {
  (void)data;
  if (strcmp(interface, wl_seat_interface.name) == 0 && !seat) {
    seat = wl_registry_bind(registry, name, &wl_seat_interface, 1);
  } else if (strcmp(interface, zwlr_virtual_pointer_manager_v1_interface.name) == 0) {
    pointer_manager = wl_registry_bind(registry, name, &zwlr_virtual_pointer_manager_v1_interface,
                                       version < 2 ? version : 2);
  } else if (strcmp(interface, zwp_virtual_keyboard_manager_v1_interface.name) == 0) {
    keyboard_manager = wl_registry_bind(registry, name, &zwp_virtual_keyboard_manager_v1_interface, 1);
  }
}

static void on_global_remove(void *data, struct wl_registry *registry, uint32_t name) {
  (void)data, (void)registry, (void)name;
}

static const struct wl_registry_listener registry_listener = {on_global, on_global_remove};

static uint32_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Reads exactly n bytes of stdin into a fresh memfd; returns it, or -1. */
static int keymap_fd(size_t n) {
  int fd = memfd_create("smoldesk-keymap", MFD_CLOEXEC);
  if (fd < 0) return -1;
  char buffer[65536];
  while (n > 0) {
    size_t want = n < sizeof buffer ? n : sizeof buffer;
    size_t got = fread(buffer, 1, want, stdin);
    if (got == 0 || write(fd, buffer, got) != (ssize_t)got) {
      close(fd);
      return -1;
    }
    n -= got;
  }
  return fd;
}

int main(void) {
  struct wl_display *display = wl_display_connect(NULL);
  if (!display) {
    printf("error cannot connect to the Wayland display (%s)\n", strerror(errno));
    return 2;
  }
  struct wl_registry *registry = wl_display_get_registry(display);
  wl_registry_add_listener(registry, &registry_listener, NULL);
  wl_display_roundtrip(display);
  if (!seat || !pointer_manager || !keyboard_manager) {
    printf("error the compositor lacks %s\n", !seat              ? "a seat"
                                              : !pointer_manager ? "zwlr_virtual_pointer_manager_v1"
                                                                 : "zwp_virtual_keyboard_manager_v1");
    return 2;
  }
  struct zwlr_virtual_pointer_v1 *pointer =
      zwlr_virtual_pointer_manager_v1_create_virtual_pointer(pointer_manager, seat);
  struct zwp_virtual_keyboard_v1 *keyboard =
      zwp_virtual_keyboard_manager_v1_create_virtual_keyboard(keyboard_manager, seat);
  if (wl_display_roundtrip(display) < 0) {
    printf("error the compositor refused the virtual devices\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready\n");

  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    long a = 0, b = 0, c = 0, d = 0;
    uint32_t t = now_ms();
    switch (line[0]) {
      case 'M':
        if (sscanf(line + 1, "%ld %ld %ld %ld", &a, &b, &c, &d) == 4 && c > 0 && d > 0) {
          zwlr_virtual_pointer_v1_motion_absolute(pointer, t, (uint32_t)a, (uint32_t)b, (uint32_t)c,
                                                  (uint32_t)d);
          zwlr_virtual_pointer_v1_frame(pointer);
        }
        break;
      case 'R':
        if (sscanf(line + 1, "%ld %ld", &a, &b) == 2) {
          zwlr_virtual_pointer_v1_motion(pointer, t, wl_fixed_from_int(a), wl_fixed_from_int(b));
          zwlr_virtual_pointer_v1_frame(pointer);
        }
        break;
      case 'B':
        if (sscanf(line + 1, "%ld %ld", &a, &b) == 2) {
          zwlr_virtual_pointer_v1_button(pointer, t, (uint32_t)a, b ? 1 : 0);
          zwlr_virtual_pointer_v1_frame(pointer);
        }
        break;
      case 'A':
        if (sscanf(line + 1, "%ld %ld", &a, &b) == 2 && (a == 0 || a == 1)) {
          zwlr_virtual_pointer_v1_axis_source(pointer, WL_POINTER_AXIS_SOURCE_WHEEL);
          zwlr_virtual_pointer_v1_axis_discrete(pointer, t, (uint32_t)a,
                                                wl_fixed_from_int((int)b * WHEEL_DEGREES), (int)b);
          zwlr_virtual_pointer_v1_frame(pointer);
        }
        break;
      case 'K':
        if (sscanf(line + 1, "%ld %ld", &a, &b) == 2) zwp_virtual_keyboard_v1_key(keyboard, t, (uint32_t)a, b ? 1 : 0);
        break;
      case 'D':
        if (sscanf(line + 1, "%ld %ld %ld %ld", &a, &b, &c, &d) == 4)
          zwp_virtual_keyboard_v1_modifiers(keyboard, (uint32_t)a, (uint32_t)b, (uint32_t)c, (uint32_t)d);
        break;
      case 'X': {
        if (sscanf(line + 1, "%ld", &a) != 1 || a <= 0 || a > 16 * 1024 * 1024) {
          printf("error bad keymap size\n");
          return 2;
        }
        int fd = keymap_fd((size_t)a);
        if (fd < 0) {
          printf("error cannot pass the keymap (%s)\n", strerror(errno));
          return 2;
        }
        zwp_virtual_keyboard_v1_keymap(keyboard, WL_KEYBOARD_KEYMAP_FORMAT_XKB_V1, fd, (uint32_t)a);
        close(fd);
        break;
      }
      case 'S':
        if (wl_display_roundtrip(display) < 0) {
          printf("error the compositor went away\n");
          return 1;
        }
        printf("S\n");
        continue;
      default:
        break;
    }
    if (wl_display_flush(display) < 0 && errno != EAGAIN) {
      printf("error the compositor went away (%s)\n", strerror(errno));
      return 1;
    }
  }
  zwlr_virtual_pointer_v1_destroy(pointer);
  zwp_virtual_keyboard_v1_destroy(keyboard);
  wl_display_roundtrip(display);
  wl_display_disconnect(display);
  return 0;
}
