/*
 * What SmolDesk's two RemoteDesktop helpers (gnome/helper/smoldesk-mutter.c,
 * portal/helper/smoldesk-portal.c) share: answers as lines on stdout,
 * commands as lines on stdin, and a character's keysym.
 */
#ifndef SMOLDESK_RD_LINES_H
#define SMOLDESK_RD_LINES_H

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <xkbcommon/xkbcommon.h>

/* One answer line, flushed at once (the host waits for it). */
static void out(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void out(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

/* The keysym that types a character: the legacy one where there is one (EuroSign, not U20AC),
 * since layouts use those; Return and Tab for their control characters. */
static guint32 character_keysym(guint32 codepoint) {
  if (codepoint == '\n' || codepoint == '\r') return XKB_KEY_Return;
  if (codepoint == '\t') return XKB_KEY_Tab;
  xkb_keysym_t sym = xkb_utf32_to_keysym(codepoint);
  return sym == XKB_KEY_NoSymbol ? 0x1000000 + codepoint : sym;
}

typedef struct {
  void (*handle)(char *line);
  GMainLoop *loop;
} LineReader;

static gboolean on_stdin_lines(GIOChannel *ch, GIOCondition cond, gpointer data) {
  (void)cond;
  LineReader *reader = data;
  char *line = NULL;
  gsize len = 0;
  for (;;) {
    GIOStatus st = g_io_channel_read_line(ch, &line, &len, NULL, NULL);
    if (st == G_IO_STATUS_NORMAL) {
      reader->handle(line);
      g_free(line);
      if (g_io_channel_get_buffer_condition(ch) & G_IO_IN) continue;
      return TRUE;
    }
    if (st == G_IO_STATUS_AGAIN) return TRUE;
    /* stdin ended (the host is gone or done): so is the helper. */
    g_main_loop_quit(reader->loop);
    return FALSE;
  }
}

/* Calls handle for every line on stdin, and quits loop when stdin ends. */
static void read_stdin_lines(void (*handle)(char *line), GMainLoop *loop) {
  static LineReader reader;
  reader.handle = handle;
  reader.loop = loop;
  GIOChannel *in = g_io_channel_unix_new(0);
  g_io_channel_set_encoding(in, NULL, NULL);
  g_io_channel_set_flags(in, G_IO_FLAG_NONBLOCK, NULL);
  g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin_lines, &reader);
}

#endif
