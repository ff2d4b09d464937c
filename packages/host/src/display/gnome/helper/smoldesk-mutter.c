/*
 * smoldesk-mutter: SmolDesk's client of GNOME mutter's remote-desktop D-Bus
 * APIs (org.gnome.Mutter.RemoteDesktop, .ScreenCast, .DisplayConfig).
 *
 * Why a helper and not D-Bus from Node: the clipboard of a RemoteDesktop
 * session is handed over as file descriptors (SelectionRead/SelectionWrite),
 * which Node's sockets cannot receive; and mutter ends every session the
 * moment its client's bus connection closes, so a helper that dies leaves
 * nothing behind in the compositor.
 *
 * Two modes:
 *
 *   smoldesk-mutter session
 *     Lines on stdin, answers on stdout (one per line):
 *       L                      -> "monitor CONN X Y W H HZ SCALE PRIMARY"... then "end"
 *       I CONN:X:Y:W:H ...     start (or restart) a remote-desktop session with a
 *                              stream per monitor -> "input-ready" | "error TEXT"
 *       M X Y                  pointer to layout position X,Y (the monitor holding it)
 *       B CODE 0|1             evdev button
 *       A AXIS STEPS           discrete scroll, axis 0 vertical, 1 horizontal
 *       K CODE 0|1             evdev key
 *       R DX DY                pointer moved by DX,DY
 *       U CODEPOINT 0|1        a character's key: its X keysym, which mutter finds
 *                              in the desktop's layout (one the layout lacks is
 *                              refused by mutter: it cannot add keys)
 *       W BASE64               own the clipboard with this UTF-8 text
 *       P BASE64               own the clipboard with this PNG image
 *       S                      -> "S" once everything before was handled
 *     Events: "changed" (monitors), "clip BASE64" (another client's text was
 *     copied), "clip-png BASE64" (an image, when there is no text), "closed"
 *     (mutter ended the session).
 *
 *   smoldesk-mutter cast CONN -- PROGRAM ARGS...
 *     Records monitor CONN (cursor drawn in), then runs PROGRAM with every
 *     "@NODE@" in ARGS replaced by the PipeWire node of the stream; stops
 *     the recording and exits with the program's status when it ends, and
 *     stops the program when told to stop or when the recording ends.
 *
 * Everything the host sends was checked by the host; the helper still
 * refuses what does not parse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "rd-lines.h"

#define MUTTER_RD "org.gnome.Mutter.RemoteDesktop"
#define MUTTER_SC "org.gnome.Mutter.ScreenCast"
#define MUTTER_DC "org.gnome.Mutter.DisplayConfig"
#define CALL_TIMEOUT_MS 5000
#define CLIP_READ_TIMEOUT_MS 2000
#define MAX_MONITORS 16

static GDBusConnection *bus;
static GMainLoop *loop;
static int exit_code;

/* A method call that waits for its answer; NULL (and *why set) when it failed. */
static GVariant *call(const char *dest, const char *path, const char *iface, const char *method,
                      GVariant *args, const char *reply_type, char **why) {
  GError *error = NULL;
  GVariant *reply = g_dbus_connection_call_sync(
      bus, dest, path, iface, method, args, reply_type ? G_VARIANT_TYPE(reply_type) : NULL,
      G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, &error);
  if (!reply) {
    if (why) *why = g_strdup_printf("%s.%s: %s", iface, method, error->message);
    g_error_free(error);
  }
  return reply;
}

/* ---- monitors (DisplayConfig) ---- */

static void list_monitors(void) {
  char *why = NULL;
  GVariant *state = call(MUTTER_DC, "/org/gnome/Mutter/DisplayConfig", MUTTER_DC, "GetCurrentState",
                         NULL, "(ua((ssss)a(siiddada{sv})a{sv})a(iiduba(ssss)a{sv})a{sv})", &why);
  if (!state) {
    out("error %s", why);
    g_free(why);
    return;
  }
  GVariant *monitors = g_variant_get_child_value(state, 1);
  GVariant *logical = g_variant_get_child_value(state, 2);
  GVariant *props = g_variant_get_child_value(state, 3);
  /* In the logical layout mode a monitor's size in the layout is its mode divided by its scale. */
  guint32 layout_mode = 1;
  g_variant_lookup(props, "layout-mode", "u", &layout_mode);
  GVariantIter li;
  g_variant_iter_init(&li, logical);
  gint32 x, y;
  double scale;
  guint32 transform;
  gboolean primary;
  GVariant *lmons, *lprops;
  while (g_variant_iter_next(&li, "(iidub@a(ssss)@a{sv})", &x, &y, &scale, &transform, &primary, &lmons,
                             &lprops)) {
    GVariantIter mi;
    g_variant_iter_init(&mi, lmons);
    const char *conn, *vendor, *product, *serial;
    while (g_variant_iter_next(&mi, "(&s&s&s&s)", &conn, &vendor, &product, &serial)) {
      /* The current mode of that connector. */
      GVariantIter pi;
      g_variant_iter_init(&pi, monitors);
      GVariant *mon;
      while ((mon = g_variant_iter_next_value(&pi))) {
        const char *pconn;
        GVariant *spec = g_variant_get_child_value(mon, 0);
        g_variant_get_child(spec, 0, "&s", &pconn);
        if (strcmp(pconn, conn) == 0) {
          GVariant *modes = g_variant_get_child_value(mon, 1);
          GVariantIter mo;
          g_variant_iter_init(&mo, modes);
          const char *id;
          gint32 w, h;
          double hz, pscale;
          GVariant *scales, *mprops;
          while (g_variant_iter_next(&mo, "(&siidd@ad@a{sv})", &id, &w, &h, &hz, &pscale, &scales, &mprops)) {
            gboolean current = FALSE;
            g_variant_lookup(mprops, "is-current", "b", &current);
            if (current) {
              int lw = layout_mode == 1 ? (int)(w / scale + 0.5) : w;
              int lh = layout_mode == 1 ? (int)(h / scale + 0.5) : h;
              out("monitor %s %d %d %d %d %.3f %.3f %d", conn, x, y, lw, lh, hz, scale, primary ? 1 : 0);
            }
            g_variant_unref(scales);
            g_variant_unref(mprops);
          }
          g_variant_unref(modes);
        }
        g_variant_unref(spec);
        g_variant_unref(mon);
      }
    }
    g_variant_unref(lmons);
    g_variant_unref(lprops);
  }
  g_variant_unref(monitors);
  g_variant_unref(logical);
  g_variant_unref(props);
  g_variant_unref(state);
  out("end");
}

static void on_monitors_changed(GDBusConnection *c, const char *s, const char *p, const char *i,
                                const char *sig, GVariant *params, gpointer data) {
  (void)c, (void)s, (void)p, (void)i, (void)sig, (void)params, (void)data;
  out("changed");
}

/* ---- screen cast sessions ---- */

typedef struct {
  char *session;   /* ScreenCast session object */
  char *stream;    /* its stream object */
  guint32 node;    /* PipeWire node, once announced */
  guint added_sub; /* PipeWireStreamAdded subscription */
} Cast;

static void on_stream_added(GDBusConnection *c, const char *s, const char *p, const char *i,
                            const char *sig, GVariant *params, gpointer data) {
  (void)c, (void)s, (void)p, (void)i, (void)sig;
  Cast *cast = data;
  g_variant_get(params, "(u)", &cast->node);
}

/* Adds a stream of monitor CONN to a ScreenCast session (cursor drawn into the picture). */
static gboolean record_monitor(Cast *cast, const char *conn, char **why) {
  GVariantBuilder opts;
  g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
  g_variant_builder_add(&opts, "{sv}", "cursor-mode", g_variant_new_uint32(1));
  GVariant *reply = call(MUTTER_SC, cast->session, MUTTER_SC ".Session", "RecordMonitor",
                         g_variant_new("(sa{sv})", conn, &opts), "(o)", why);
  if (!reply) return FALSE;
  g_variant_get(reply, "(o)", &cast->stream);
  g_variant_unref(reply);
  cast->added_sub = g_dbus_connection_signal_subscribe(bus, MUTTER_SC, MUTTER_SC ".Stream",
                                                       "PipeWireStreamAdded", cast->stream, NULL,
                                                       G_DBUS_SIGNAL_FLAGS_NONE, on_stream_added, cast, NULL);
  return TRUE;
}

static gboolean create_cast_session(Cast *cast, const char *rd_session_id, char **why) {
  GVariantBuilder opts;
  g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
  if (rd_session_id)
    g_variant_builder_add(&opts, "{sv}", "remote-desktop-session-id", g_variant_new_string(rd_session_id));
  GVariant *reply = call(MUTTER_SC, "/org/gnome/Mutter/ScreenCast", MUTTER_SC, "CreateSession",
                         g_variant_new("(a{sv})", &opts), "(o)", why);
  if (!reply) return FALSE;
  g_variant_get(reply, "(o)", &cast->session);
  g_variant_unref(reply);
  return TRUE;
}

/* Runs the main loop until every cast has its node (mutter announces them right after Start). */
static gboolean wait_for_nodes(Cast *casts, int n, char **why) {
  gint64 deadline = g_get_monotonic_time() + CALL_TIMEOUT_MS * 1000;
  for (;;) {
    int missing = 0;
    for (int i = 0; i < n; i++) missing += casts[i].node == 0;
    if (!missing) return TRUE;
    if (g_get_monotonic_time() > deadline) {
      *why = g_strdup("mutter announced no PipeWire stream");
      return FALSE;
    }
    if (!g_main_context_iteration(NULL, FALSE)) g_usleep(2000);
  }
}

/* ---- session mode: input and clipboard ---- */

typedef struct {
  char conn[64];
  int x, y, w, h;
  Cast cast;
} Output;

static char *rd_session;
static guint rd_closed_sub, rd_owner_sub, rd_transfer_sub;
static Output outputs[MAX_MONITORS];
static int n_outputs;
static GBytes *clip_text; /* what we own the clipboard with (text or PNG, served as it is) */
static gsize clip_max = 1 << 20;

static void rd_call(const char *method, GVariant *args);

static void stop_rd_session(void) {
  if (!rd_session) return;
  GVariant *r = call(MUTTER_RD, rd_session, MUTTER_RD ".Session", "Stop", NULL, NULL, NULL);
  if (r) g_variant_unref(r);
  g_dbus_connection_signal_unsubscribe(bus, rd_closed_sub);
  g_dbus_connection_signal_unsubscribe(bus, rd_owner_sub);
  g_dbus_connection_signal_unsubscribe(bus, rd_transfer_sub);
  for (int i = 0; i < n_outputs; i++) {
    if (outputs[i].cast.added_sub) g_dbus_connection_signal_unsubscribe(bus, outputs[i].cast.added_sub);
    g_free(outputs[i].cast.session);
    g_free(outputs[i].cast.stream);
  }
  memset(outputs, 0, sizeof outputs);
  n_outputs = 0;
  g_clear_pointer(&rd_session, g_free);
}

static void on_rd_closed(GDBusConnection *c, const char *s, const char *p, const char *i, const char *sig,
                         GVariant *params, gpointer data) {
  (void)c, (void)s, (void)p, (void)i, (void)sig, (void)params, (void)data;
  out("closed");
}

/* Reads a pipe mutter handed over until EOF, at most clip_max bytes, within the timeout. */
static GByteArray *read_fd(int fd) {
  GByteArray *data = g_byte_array_new();
  guint8 buf[16384];
  gint64 deadline = g_get_monotonic_time() + CLIP_READ_TIMEOUT_MS * 1000;
  for (;;) {
    int left = (int)((deadline - g_get_monotonic_time()) / 1000);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (left <= 0 || poll(&p, 1, left) <= 0) break;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return data;
    if (data->len + (gsize)n > clip_max) break;
    g_byte_array_append(data, buf, (guint)n);
  }
  g_byte_array_unref(data);
  return NULL;
}

static const char PNG_TYPE[] = "image/png";
static const char *TEXT_TYPES[] = {"text/plain;charset=utf-8", "UTF8_STRING", "text/plain", "STRING", "TEXT",
                                   NULL};

static void on_owner_changed(GDBusConnection *c, const char *s, const char *p, const char *i,
                             const char *sig, GVariant *params, gpointer data) {
  (void)c, (void)s, (void)p, (void)i, (void)sig, (void)data;
  GVariant *opts = g_variant_get_child_value(params, 0);
  gboolean ours = FALSE;
  g_variant_lookup(opts, "session-is-owner", "b", &ours);
  /* mutter sends the list as a tuple "(as)"; a plain "as" is taken too. */
  const char **types = NULL;
  GVariant *list = g_variant_lookup_value(opts, "mime-types", NULL);
  if (list && g_variant_is_of_type(list, G_VARIANT_TYPE("(as)"))) {
    GVariant *inner = g_variant_get_child_value(list, 0);
    g_variant_unref(list);
    list = inner;
  }
  if (list && g_variant_is_of_type(list, G_VARIANT_TYPE("as"))) types = g_variant_get_strv(list, NULL);
  if (list) g_variant_unref(list);
  g_variant_unref(opts);
  if (ours || !types) {
    g_free(types);
    return;
  }
  const char *pick = NULL;
  for (int t = 0; TEXT_TYPES[t] && !pick; t++)
    for (int k = 0; types[k]; k++)
      if (strcmp(types[k], TEXT_TYPES[t]) == 0) {
        pick = TEXT_TYPES[t];
        break;
      }
  /* Text wins (a copied rich text often offers a picture of itself too); else a PNG image. */
  for (int k = 0; types[k] && !pick; k++)
    if (strcmp(types[k], PNG_TYPE) == 0) pick = PNG_TYPE;
  g_free(types);
  if (!pick) return;
  GError *error = NULL;
  GUnixFDList *fds = NULL;
  GVariant *reply = g_dbus_connection_call_with_unix_fd_list_sync(
      bus, MUTTER_RD, rd_session, MUTTER_RD ".Session", "SelectionRead", g_variant_new("(s)", pick),
      G_VARIANT_TYPE("(h)"), G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, &fds, NULL, &error);
  if (!reply) {
    out("clip-error %s", error->message);
    g_error_free(error);
    return;
  }
  gint32 handle;
  g_variant_get(reply, "(h)", &handle);
  g_variant_unref(reply);
  int fd = g_unix_fd_list_get(fds, handle, NULL);
  g_object_unref(fds);
  if (fd < 0) return;
  GByteArray *text = read_fd(fd);
  close(fd);
  if (!text) {
    out("clip-error too large or too slow");
    return;
  }
  char *b64 = g_base64_encode(text->data, text->len);
  out("%s %s", pick == PNG_TYPE ? "clip-png" : "clip", b64);
  g_free(b64);
  g_byte_array_unref(text);
}

static void on_transfer(GDBusConnection *c, const char *s, const char *p, const char *i, const char *sig,
                        GVariant *params, gpointer data) {
  (void)c, (void)s, (void)p, (void)i, (void)sig, (void)data;
  const char *mime;
  guint32 serial;
  g_variant_get(params, "(&su)", &mime, &serial);
  GError *error = NULL;
  GUnixFDList *fds = NULL;
  GVariant *reply = g_dbus_connection_call_with_unix_fd_list_sync(
      bus, MUTTER_RD, rd_session, MUTTER_RD ".Session", "SelectionWrite", g_variant_new("(u)", serial),
      G_VARIANT_TYPE("(h)"), G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, &fds, NULL, &error);
  gboolean ok = FALSE;
  if (reply) {
    gint32 handle;
    g_variant_get(reply, "(h)", &handle);
    g_variant_unref(reply);
    int fd = g_unix_fd_list_get(fds, handle, NULL);
    g_object_unref(fds);
    if (fd >= 0) {
      gsize len = 0;
      const guint8 *bytes = clip_text ? g_bytes_get_data(clip_text, &len) : NULL;
      ok = TRUE;
      for (gsize done = 0; done < len;) {
        ssize_t n = write(fd, bytes + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          ok = FALSE;
          break;
        }
        done += (gsize)n;
      }
      close(fd);
    }
  } else {
    g_error_free(error);
  }
  GVariant *r = call(MUTTER_RD, rd_session, MUTTER_RD ".Session", "SelectionWriteDone",
                     g_variant_new("(ub)", serial, ok), NULL, NULL);
  if (r) g_variant_unref(r);
}

static gboolean start_rd_session(char **specs, char **why) {
  stop_rd_session();
  GVariant *reply = call(MUTTER_RD, "/org/gnome/Mutter/RemoteDesktop", MUTTER_RD, "CreateSession", NULL,
                         "(o)", why);
  if (!reply) return FALSE;
  g_variant_get(reply, "(o)", &rd_session);
  g_variant_unref(reply);
  rd_closed_sub = g_dbus_connection_signal_subscribe(bus, MUTTER_RD, MUTTER_RD ".Session", "Closed",
                                                     rd_session, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_rd_closed,
                                                     NULL, NULL);
  rd_owner_sub = g_dbus_connection_signal_subscribe(bus, MUTTER_RD, MUTTER_RD ".Session",
                                                    "SelectionOwnerChanged", rd_session, NULL,
                                                    G_DBUS_SIGNAL_FLAGS_NONE, on_owner_changed, NULL, NULL);
  rd_transfer_sub = g_dbus_connection_signal_subscribe(bus, MUTTER_RD, MUTTER_RD ".Session",
                                                       "SelectionTransfer", rd_session, NULL,
                                                       G_DBUS_SIGNAL_FLAGS_NONE, on_transfer, NULL, NULL);
  reply = call(MUTTER_RD, rd_session, "org.freedesktop.DBus.Properties", "Get",
               g_variant_new("(ss)", MUTTER_RD ".Session", "SessionId"), "(v)", why);
  if (!reply) return FALSE;
  GVariant *id_v;
  g_variant_get(reply, "(v)", &id_v);
  const char *id = g_variant_get_string(id_v, NULL);
  /* One ScreenCast session linked to this one holds a stream per monitor: mutter maps absolute
   * pointer positions through a stream, and nobody consumes them (no frames are drawn for them). */
  Cast linked = {0};
  gboolean ok = create_cast_session(&linked, id, why);
  g_variant_unref(id_v);
  g_variant_unref(reply);
  if (!ok) return FALSE;
  for (int i = 0; specs[i] && n_outputs < MAX_MONITORS; i++) {
    Output *o = &outputs[n_outputs];
    if (sscanf(specs[i], "%63[^:]:%d:%d:%d:%d", o->conn, &o->x, &o->y, &o->w, &o->h) != 5 || o->w <= 0 ||
        o->h <= 0) {
      *why = g_strdup_printf("bad monitor %s", specs[i]);
      g_free(linked.session);
      return FALSE;
    }
    o->cast.session = g_strdup(linked.session);
    n_outputs++;
    if (!record_monitor(&o->cast, o->conn, why)) {
      g_free(linked.session);
      return FALSE;
    }
  }
  g_free(linked.session);
  reply = call(MUTTER_RD, rd_session, MUTTER_RD ".Session", "Start", NULL, NULL, why);
  if (!reply) return FALSE;
  g_variant_unref(reply);
  /* A desktop without a keyboard of its own (a headless one) gets its first when this session
   * types, and the first key pressed was lost while clients bound it: a Shift tap makes it
   * appear before anything the viewer types. */
  rd_call("NotifyKeyboardKeycode", g_variant_new("(ub)", (guint32)42, TRUE));
  rd_call("NotifyKeyboardKeycode", g_variant_new("(ub)", (guint32)42, FALSE));
  g_usleep(150 * 1000);
  GVariantBuilder opts;
  g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
  reply = call(MUTTER_RD, rd_session, MUTTER_RD ".Session", "EnableClipboard", g_variant_new("(a{sv})", &opts),
               NULL, NULL);
  if (reply) g_variant_unref(reply); /* a mutter without a clipboard still takes input */
  return TRUE;
}

static void rd_call(const char *method, GVariant *args) {
  if (!rd_session) {
    g_variant_unref(g_variant_ref_sink(args));
    return;
  }
  char *why = NULL;
  GVariant *r = call(MUTTER_RD, rd_session, MUTTER_RD ".Session", method, args, NULL, &why);
  if (r) g_variant_unref(r);
  else {
    fprintf(stderr, "%s\n", why);
    g_free(why);
  }
}

static void pointer_to(int x, int y) {
  for (int i = 0; i < n_outputs; i++) {
    Output *o = &outputs[i];
    if (x >= o->x && x < o->x + o->w && y >= o->y && y < o->y + o->h) {
      rd_call("NotifyPointerMotionAbsolute",
              g_variant_new("(sdd)", o->cast.stream, (double)(x - o->x), (double)(y - o->y)));
      return;
    }
  }
}

static void own_clipboard(const char *b64, gboolean png) {
  gsize len = 0;
  guchar *bytes = g_base64_decode(b64, &len);
  g_clear_pointer(&clip_text, g_bytes_unref);
  clip_text = g_bytes_new_take(bytes, len);
  GVariantBuilder opts, types;
  g_variant_builder_init(&types, G_VARIANT_TYPE("as"));
  if (png) g_variant_builder_add(&types, "s", PNG_TYPE);
  else
    for (int t = 0; TEXT_TYPES[t]; t++) g_variant_builder_add(&types, "s", TEXT_TYPES[t]);
  g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
  /* SetSelection takes a plain "as" (SelectionOwnerChanged sends "(as)"). */
  g_variant_builder_add(&opts, "{sv}", "mime-types", g_variant_builder_end(&types));
  rd_call("SetSelection", g_variant_new("(a{sv})", &opts));
}

static void handle_line(char *line) {
  int a, b;
  unsigned int u;
  switch (line[0]) {
  case 'L':
    list_monitors();
    return;
  case 'I': {
    char **specs = g_strsplit(g_strstrip(line + 1), " ", MAX_MONITORS + 1);
    char *why = NULL;
    if (start_rd_session(specs, &why)) out("input-ready");
    else {
      out("error %s", why ? why : "remote desktop session failed");
      g_free(why);
      stop_rd_session();
    }
    g_strfreev(specs);
    return;
  }
  case 'M':
    if (sscanf(line + 1, "%d %d", &a, &b) == 2) pointer_to(a, b);
    return;
  case 'B':
    if (sscanf(line + 1, "%d %d", &a, &b) == 2)
      rd_call("NotifyPointerButton", g_variant_new("(ib)", a, b != 0));
    return;
  case 'A':
    if (sscanf(line + 1, "%d %d", &a, &b) == 2 && (a == 0 || a == 1))
      rd_call("NotifyPointerAxisDiscrete", g_variant_new("(ui)", (guint32)a, b));
    return;
  case 'K':
    if (sscanf(line + 1, "%d %d", &a, &b) == 2 && a > 0)
      rd_call("NotifyKeyboardKeycode", g_variant_new("(ub)", (guint32)a, b != 0));
    return;
  case 'R':
    if (sscanf(line + 1, "%d %d", &a, &b) == 2)
      rd_call("NotifyPointerMotionRelative", g_variant_new("(dd)", (double)a, (double)b));
    return;
  case 'U':
    if (sscanf(line + 1, "%u %d", &u, &b) == 2 && u > 0 && u <= 0x10ffff) {
      rd_call("NotifyKeyboardKeysym", g_variant_new("(ub)", character_keysym(u), b != 0));
    }
    return;
  case 'W':
    own_clipboard(g_strstrip(line + 1), FALSE);
    return;
  case 'P':
    own_clipboard(g_strstrip(line + 1), TRUE);
    return;
  case 'S':
    out("S");
    return;
  default:
    fprintf(stderr, "unknown command %c\n", line[0]);
  }
}

static int run_session(void) {
  g_dbus_connection_signal_subscribe(bus, MUTTER_DC, MUTTER_DC, "MonitorsChanged",
                                     "/org/gnome/Mutter/DisplayConfig", NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                     on_monitors_changed, NULL, NULL);
  const char *max = getenv("SMOLDESK_CLIPBOARD_MAX_BYTES");
  if (max && atol(max) > 0) clip_max = (gsize)atol(max);
  read_stdin_lines(handle_line, loop);
  out("ready");
  g_main_loop_run(loop);
  stop_rd_session();
  return 0;
}

/* ---- cast mode ---- */

static pid_t child;
static Cast cast;

static void on_cast_closed(GDBusConnection *c, const char *s, const char *p, const char *i, const char *sig,
                           GVariant *params, gpointer data) {
  (void)c, (void)s, (void)p, (void)i, (void)sig, (void)params, (void)data;
  fprintf(stderr, "mutter ended the recording (monitor gone?)\n");
  if (child > 0) kill(child, SIGTERM);
  exit_code = 1;
}

static void on_child_exit(GPid pid, int status, gpointer data) {
  (void)pid, (void)data;
  child = 0;
  if (!exit_code) exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  g_spawn_close_pid(pid);
  g_main_loop_quit(loop);
}

static gboolean on_stop_signal(gpointer data) {
  (void)data;
  if (child > 0) kill(child, SIGTERM);
  else g_main_loop_quit(loop);
  return G_SOURCE_CONTINUE;
}

static int run_cast(const char *conn, char **argv) {
  char *why = NULL;
  if (!create_cast_session(&cast, NULL, &why) || !record_monitor(&cast, conn, &why)) {
    fprintf(stderr, "%s\n", why);
    return 2;
  }
  g_dbus_connection_signal_subscribe(bus, MUTTER_SC, MUTTER_SC ".Session", "Closed", cast.session, NULL,
                                     G_DBUS_SIGNAL_FLAGS_NONE, on_cast_closed, NULL, NULL);
  GVariant *r = call(MUTTER_SC, cast.session, MUTTER_SC ".Session", "Start", NULL, NULL, &why);
  if (!r || !wait_for_nodes(&cast, 1, &why)) {
    fprintf(stderr, "%s\n", why);
    return 2;
  }
  g_variant_unref(r);
  char node[16];
  snprintf(node, sizeof node, "%u", cast.node);
  GPtrArray *args = g_ptr_array_new_with_free_func(g_free);
  for (int i = 0; argv[i]; i++) {
    char **parts = g_strsplit(argv[i], "@NODE@", -1);
    g_ptr_array_add(args, g_strjoinv(node, parts));
    g_strfreev(parts);
  }
  g_ptr_array_add(args, NULL);
  child = fork();
  if (child == 0) {
    /* The program goes with the helper, whatever ends it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execvp((char *)args->pdata[0], (char **)args->pdata);
    fprintf(stderr, "cannot run %s: %s\n", (char *)args->pdata[0], strerror(errno));
    _exit(127);
  }
  g_ptr_array_unref(args);
  if (child < 0) {
    fprintf(stderr, "fork: %s\n", strerror(errno));
    return 2;
  }
  g_child_watch_add(child, on_child_exit, NULL);
  g_unix_signal_add(SIGTERM, on_stop_signal, NULL);
  g_unix_signal_add(SIGINT, on_stop_signal, NULL);
  g_main_loop_run(loop);
  r = call(MUTTER_SC, cast.session, MUTTER_SC ".Session", "Stop", NULL, NULL, NULL);
  if (r) g_variant_unref(r);
  return exit_code;
}

int main(int argc, char **argv) {
  /* Ends with SmolDesk even if SmolDesk is killed. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (argc < 2) {
    fprintf(stderr, "usage: smoldesk-mutter session | cast CONNECTOR -- PROGRAM ARGS...\n");
    return 2;
  }
  GError *error = NULL;
  bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
  if (!bus) {
    fprintf(stderr, "no D-Bus session: %s\n", error->message);
    if (strcmp(argv[1], "session") == 0) out("error no D-Bus session: %s", error->message);
    return 2;
  }
  g_dbus_connection_set_exit_on_close(bus, TRUE);
  loop = g_main_loop_new(NULL, FALSE);
  if (strcmp(argv[1], "session") == 0) return run_session();
  if (strcmp(argv[1], "cast") == 0 && argc >= 5 && strcmp(argv[3], "--") == 0) return run_cast(argv[2], argv + 4);
  fprintf(stderr, "usage: smoldesk-mutter session | cast CONNECTOR -- PROGRAM ARGS...\n");
  return 2;
}
