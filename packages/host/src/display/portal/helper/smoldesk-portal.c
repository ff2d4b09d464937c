/*
 * smoldesk-portal: SmolDesk's client of the desktop portal
 * (org.freedesktop.portal.ScreenCast and .RemoteDesktop, xdg-desktop-portal
 * with the -gnome, -kde or -wlr backend).
 *
 * The portal is how a desktop that does not let SmolDesk in by itself (KDE,
 * a GNOME that keeps its own APIs to itself, a wlroots desktop with only the
 * wlr portal) still shares its screen: the desktop asks its user once, and
 * what was granted lives exactly as long as this helper's bus connection, so
 * a helper that dies leaves nothing shared behind.
 *
 *   smoldesk-portal session [--input] [--persist]
 *     Starts one portal session at once: a RemoteDesktop session with every
 *     monitor as a stream when --input is given and the portal offers it,
 *     otherwise a ScreenCast session. --persist asks the portal for a restore
 *     token (persist_mode 2), offered for ScreenCast sessions only: the
 *     portal refuses to persist remote control. A token from an earlier run
 *     comes in SMOLDESK_PORTAL_RESTORE_TOKEN (not argv: other users can read
 *     a command line), and with it the portal does not ask again.
 *     Answers (one per line):
 *       "stream NODE X Y W H"  a shared monitor: its PipeWire node and its
 *                              place in the desktop's layout (0 0 W H when the
 *                              portal gives no position)
 *       "started DEVICES"      the streams are complete; DEVICES is the bitmask
 *                              of input granted (1 keyboard, 2 pointer), 0 for
 *                              a ScreenCast session
 *       "token TOKEN"          the restore token for the next run
 *       "error CODE TEXT"      CODE refused (the user said no), unavailable
 *                              (no portal, no such interface) or failed
 *       "closed"               the portal (or its user) ended the session
 *     Lines on stdin, with a RemoteDesktop session:
 *       M X Y       pointer to layout position X,Y (on the stream holding it)
 *       R DX DY     pointer moved by DX,DY
 *       B CODE 0|1  evdev button
 *       A AXIS STEPS  discrete scroll, axis 0 vertical, 1 horizontal
 *       K CODE 0|1  evdev key
 *       U CODEPOINT 0|1  a character's key, as its X keysym
 *       S           -> "S" once everything before was handled
 *     The session ends when stdin does.
 *
 * Everything the host sends was checked by the host; the helper still
 * refuses what does not parse.
 */
#define _GNU_SOURCE
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include "rd-lines.h"

#define PORTAL_BUS "org.freedesktop.portal.Desktop"
#define PORTAL_PATH "/org/freedesktop/portal/desktop"
#define PORTAL_SC "org.freedesktop.portal.ScreenCast"
#define PORTAL_RD "org.freedesktop.portal.RemoteDesktop"
#define CALL_TIMEOUT_MS 5000
#define MAX_STREAMS 16
/* The portal waits for its user: a consent dialog may stand for a while. */
#define START_TIMEOUT_S 300

enum { SOURCE_MONITOR = 1, CURSOR_EMBEDDED = 2, PERSIST_UNTIL_REVOKED = 2 };
enum { DEVICE_KEYBOARD = 1, DEVICE_POINTER = 2 };

typedef struct {
  guint32 node;
  int x, y, w, h;
} Stream;

static GDBusConnection *bus;
static GMainLoop *loop;
static char *sender_path; /* the unique name as the portal spells it in request paths */
static char *session;
static gboolean remote_desktop;
static Stream streams[MAX_STREAMS];
static int n_streams;
static int token_counter;

/* Why a call failed, in one line and without the D-Bus error prefix GLib adds. */
static char *error_text(GError *error) {
  g_dbus_error_strip_remote_error(error);
  char *text = g_strdup(error->message);
  for (char *c = text; *c; c++)
    if (*c == '\n') *c = ' ';
  return text;
}

static guint32 portal_property(const char *iface, const char *name) {
  GVariant *r = g_dbus_connection_call_sync(bus, PORTAL_BUS, PORTAL_PATH, "org.freedesktop.DBus.Properties",
                                            "Get", g_variant_new("(ss)", iface, name), G_VARIANT_TYPE("(v)"),
                                            G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, NULL);
  if (!r) return 0;
  GVariant *v;
  g_variant_get(r, "(v)", &v);
  guint32 value = g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32) ? g_variant_get_uint32(v) : 0;
  g_variant_unref(v);
  g_variant_unref(r);
  return value;
}

/* ---- requests: a method answers with a Request object whose Response signal carries the result ---- */

typedef struct {
  gboolean done;
  guint32 response;
  GVariant *results;
} Answer;

static void on_response(GDBusConnection *c, const char *s, const char *p, const char *i, const char *sig,
                        GVariant *params, gpointer data) {
  (void)c, (void)s, (void)p, (void)i, (void)sig;
  Answer *answer = data;
  g_variant_get(params, "(u@a{sv})", &answer->response, &answer->results);
  answer->done = TRUE;
}

static gboolean on_request_timeout(gpointer data) {
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

/*
 * Calls METHOD with OPTIONS (to which the handle token is added) after the
 * fixed ARGS, waits for the Response and returns its results; NULL with *code
 * and *why set when it was refused or failed.
 */
static GVariant *request(const char *iface, const char *method, GVariant *args_before, GVariantBuilder *options,
                         const char *extra_string, const char **code, char **why) {
  char token[32];
  snprintf(token, sizeof token, "smoldesk%d", ++token_counter);
  char *path = g_strdup_printf("/org/freedesktop/portal/desktop/request/%s/%s", sender_path, token);
  Answer answer = {0};
  /* Subscribed before the call: a quick portal answers before the call returns. */
  guint sub = g_dbus_connection_signal_subscribe(bus, PORTAL_BUS, "org.freedesktop.portal.Request", "Response",
                                                 path, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_response, &answer, NULL);
  g_variant_builder_add(options, "{sv}", "handle_token", g_variant_new_string(token));
  GVariant *args;
  if (args_before && extra_string) args = g_variant_new("(@os@a{sv})", args_before, extra_string, g_variant_builder_end(options));
  else if (args_before) args = g_variant_new("(@o@a{sv})", args_before, g_variant_builder_end(options));
  else args = g_variant_new("(@a{sv})", g_variant_builder_end(options));
  GError *error = NULL;
  GVariant *r = g_dbus_connection_call_sync(bus, PORTAL_BUS, PORTAL_PATH, iface, method, args, G_VARIANT_TYPE("(o)"),
                                            G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, &error);
  GVariant *results = NULL;
  if (!r) {
    *code = g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
                    g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
                    g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_INTERFACE)
                ? "unavailable"
                : "failed";
    char *text = error_text(error);
    *why = g_strdup_printf("%s.%s: %s", iface, method, text);
    g_free(text);
    g_error_free(error);
  } else {
    g_variant_unref(r);
    gboolean timed_out = FALSE;
    guint timer = g_timeout_add_seconds(START_TIMEOUT_S, on_request_timeout, &timed_out);
    while (!answer.done && !timed_out) g_main_context_iteration(NULL, TRUE);
    if (!timed_out) g_source_remove(timer);
    if (!answer.done) {
      *code = "failed";
      *why = g_strdup_printf("%s.%s: no answer within %d s", iface, method, START_TIMEOUT_S);
    } else if (answer.response == 0) {
      results = answer.results;
    } else {
      /* 1: the user cancelled; 2: the portal ended it otherwise. */
      *code = answer.response == 1 ? "refused" : "failed";
      *why = answer.response == 1 ? g_strdup("the desktop's user did not allow sharing the screen")
                                  : g_strdup_printf("%s.%s: the portal ended the request", iface, method);
      g_variant_unref(answer.results);
    }
  }
  g_dbus_connection_signal_unsubscribe(bus, sub);
  g_free(path);
  return results;
}

static GVariantBuilder *new_options(void) { return g_variant_builder_new(G_VARIANT_TYPE("a{sv}")); }

static void rd_call(const char *method, const char *format, ...);

/* ---- the session ---- */

static void on_session_closed(GDBusConnection *c, const char *s, const char *p, const char *i, const char *sig,
                              GVariant *params, gpointer data) {
  (void)c, (void)s, (void)p, (void)i, (void)sig, (void)params, (void)data;
  out("closed");
  g_main_loop_quit(loop);
}

static void read_streams(GVariant *results) {
  GVariant *list = g_variant_lookup_value(results, "streams", G_VARIANT_TYPE("a(ua{sv})"));
  if (!list) return;
  GVariantIter it;
  g_variant_iter_init(&it, list);
  guint32 node;
  GVariant *props;
  while (n_streams < MAX_STREAMS && g_variant_iter_next(&it, "(u@a{sv})", &node, &props)) {
    Stream *st = &streams[n_streams++];
    st->node = node;
    g_variant_lookup(props, "position", "(ii)", &st->x, &st->y);
    g_variant_lookup(props, "size", "(ii)", &st->w, &st->h);
    g_variant_unref(props);
  }
  g_variant_unref(list);
}

static int start_session(gboolean want_input, gboolean persist) {
  const char *code = NULL;
  char *why = NULL;
  guint32 devices_offered = want_input ? portal_property(PORTAL_RD, "AvailableDeviceTypes") : 0;
  remote_desktop = (devices_offered & (DEVICE_KEYBOARD | DEVICE_POINTER)) != 0;
  guint32 sc_version = portal_property(PORTAL_SC, "version");
  if (sc_version == 0) {
    out("error unavailable this desktop has no screen-cast portal (org.freedesktop.portal.ScreenCast)");
    return 1;
  }
  GVariantBuilder *o = new_options();
  char stoken[32];
  snprintf(stoken, sizeof stoken, "smoldesks%d", getpid());
  g_variant_builder_add(o, "{sv}", "session_handle_token", g_variant_new_string(stoken));
  GVariant *r = request(remote_desktop ? PORTAL_RD : PORTAL_SC, "CreateSession", NULL, o, NULL, &code, &why);
  g_variant_builder_unref(o);
  if (!r) goto fail;
  if (!g_variant_lookup(r, "session_handle", "s", &session)) {
    g_variant_unref(r);
    code = "failed", why = g_strdup("CreateSession gave no session");
    goto fail;
  }
  g_variant_unref(r);
  g_dbus_connection_signal_subscribe(bus, PORTAL_BUS, "org.freedesktop.portal.Session", "Closed", session, NULL,
                                     G_DBUS_SIGNAL_FLAGS_NONE, on_session_closed, NULL, NULL);

  if (remote_desktop) {
    o = new_options();
    g_variant_builder_add(o, "{sv}", "types",
                          g_variant_new_uint32(devices_offered & (DEVICE_KEYBOARD | DEVICE_POINTER)));
    r = request(PORTAL_RD, "SelectDevices", g_variant_new_object_path(session), o, NULL, &code, &why);
    g_variant_builder_unref(o);
    if (!r) goto fail;
    g_variant_unref(r);
  }

  o = new_options();
  g_variant_builder_add(o, "{sv}", "types", g_variant_new_uint32(SOURCE_MONITOR));
  g_variant_builder_add(o, "{sv}", "multiple", g_variant_new_boolean(TRUE));
  if (portal_property(PORTAL_SC, "AvailableCursorModes") & CURSOR_EMBEDDED)
    g_variant_builder_add(o, "{sv}", "cursor_mode", g_variant_new_uint32(CURSOR_EMBEDDED));
  /* persist_mode came with version 4; a RemoteDesktop session cannot persist. */
  if (persist && sc_version >= 4 && !remote_desktop) {
    g_variant_builder_add(o, "{sv}", "persist_mode", g_variant_new_uint32(PERSIST_UNTIL_REVOKED));
    const char *restore = getenv("SMOLDESK_PORTAL_RESTORE_TOKEN");
    if (restore && *restore) g_variant_builder_add(o, "{sv}", "restore_token", g_variant_new_string(restore));
  }
  r = request(PORTAL_SC, "SelectSources", g_variant_new_object_path(session), o, NULL, &code, &why);
  g_variant_builder_unref(o);
  if (!r) goto fail;
  g_variant_unref(r);

  o = new_options();
  r = request(remote_desktop ? PORTAL_RD : PORTAL_SC, "Start", g_variant_new_object_path(session), o, "", &code,
              &why);
  g_variant_builder_unref(o);
  if (!r) goto fail;
  read_streams(r);
  guint32 devices = 0;
  if (remote_desktop) g_variant_lookup(r, "devices", "u", &devices);
  const char *restore_token = NULL;
  g_variant_lookup(r, "restore_token", "&s", &restore_token);
  for (int i = 0; i < n_streams; i++)
    out("stream %u %d %d %d %d", streams[i].node, streams[i].x, streams[i].y, streams[i].w, streams[i].h);
  if (restore_token && *restore_token) out("token %s", restore_token);
  remote_desktop = remote_desktop && devices != 0;
  g_variant_unref(r);
  if (n_streams == 0) {
    out("error refused nothing was chosen to share");
    return 1;
  }
  if (remote_desktop && (devices & DEVICE_KEYBOARD)) {
    /* A desktop without a keyboard of its own (a headless one) gets its first when this session
     * types, and the first keys were lost while clients bound it: a Shift tap makes it appear
     * before anything the viewer types. */
    rd_call("NotifyKeyboardKeycode", "iu", 42, (guint32)1);
    rd_call("NotifyKeyboardKeycode", "iu", 42, (guint32)0);
    g_usleep(150 * 1000);
  }
  out("started %u", devices);
  return 0;

fail:
  out("error %s %s", code ? code : "failed", why ? why : "the portal session failed");
  g_free(why);
  return 1;
}

/* ---- input ---- */

static void rd_call(const char *method, const char *format, ...) {
  if (!remote_desktop) return;
  GVariantBuilder opts;
  g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
  va_list ap;
  va_start(ap, format);
  /* Every Notify* takes the session and an options dict before its own arguments. */
  char *full = g_strdup_printf("(oa{sv}%s)", format);
  GVariant *args;
  if (strcmp(format, "udd") == 0) {
    guint32 s = va_arg(ap, guint32);
    double x = va_arg(ap, double), y = va_arg(ap, double);
    args = g_variant_new(full, session, &opts, s, x, y);
  } else if (strcmp(format, "dd") == 0) {
    double x = va_arg(ap, double), y = va_arg(ap, double);
    args = g_variant_new(full, session, &opts, x, y);
  } else if (strcmp(format, "iu") == 0) {
    gint32 a = va_arg(ap, gint32);
    guint32 b = va_arg(ap, guint32);
    args = g_variant_new(full, session, &opts, a, b);
  } else { /* "ui" */
    guint32 a = va_arg(ap, guint32);
    gint32 b = va_arg(ap, gint32);
    args = g_variant_new(full, session, &opts, a, b);
  }
  va_end(ap);
  g_free(full);
  GError *error = NULL;
  GVariant *r = g_dbus_connection_call_sync(bus, PORTAL_BUS, PORTAL_PATH, PORTAL_RD, method, args, NULL,
                                            G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, &error);
  if (r) g_variant_unref(r);
  else {
    char *text = error_text(error);
    fprintf(stderr, "%s: %s\n", method, text);
    g_free(text);
    g_error_free(error);
  }
}

static void pointer_to(int x, int y) {
  for (int i = 0; i < n_streams; i++) {
    Stream *s = &streams[i];
    if (x >= s->x && x < s->x + s->w && y >= s->y && y < s->y + s->h) {
      rd_call("NotifyPointerMotionAbsolute", "udd", s->node, (double)(x - s->x), (double)(y - s->y));
      return;
    }
  }
}

static void handle_line(char *line) {
  int a, b;
  unsigned int u;
  switch (line[0]) {
  case 'M':
    if (sscanf(line + 1, "%d %d", &a, &b) == 2) pointer_to(a, b);
    return;
  case 'R':
    if (sscanf(line + 1, "%d %d", &a, &b) == 2) rd_call("NotifyPointerMotion", "dd", (double)a, (double)b);
    return;
  case 'B':
    if (sscanf(line + 1, "%d %d", &a, &b) == 2) rd_call("NotifyPointerButton", "iu", a, (guint32)(b != 0));
    return;
  case 'A':
    if (sscanf(line + 1, "%d %d", &a, &b) == 2 && (a == 0 || a == 1))
      rd_call("NotifyPointerAxisDiscrete", "ui", (guint32)a, b);
    return;
  case 'K':
    if (sscanf(line + 1, "%d %d", &a, &b) == 2 && a > 0) rd_call("NotifyKeyboardKeycode", "iu", a, (guint32)(b != 0));
    return;
  case 'U':
    if (sscanf(line + 1, "%u %d", &u, &b) == 2 && u > 0 && u <= 0x10ffff) {
      rd_call("NotifyKeyboardKeysym", "iu", (gint32)character_keysym(u), (guint32)(b != 0));
    }
    return;
  case 'S':
    out("S");
    return;
  default:
    fprintf(stderr, "unknown command %c\n", line[0]);
  }
}

int main(int argc, char **argv) {
  /* Ends with SmolDesk even if SmolDesk is killed; the portal then ends the session. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  gboolean input = FALSE, persist = FALSE;
  if (argc < 2 || strcmp(argv[1], "session") != 0) {
    fprintf(stderr, "usage: smoldesk-portal session [--input] [--persist]\n");
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--input") == 0) input = TRUE;
    else if (strcmp(argv[i], "--persist") == 0) persist = TRUE;
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  GError *error = NULL;
  bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
  if (!bus) {
    char *text = error_text(error);
    out("error unavailable no D-Bus session: %s", text);
    return 2;
  }
  g_dbus_connection_set_exit_on_close(bus, TRUE);
  loop = g_main_loop_new(NULL, FALSE);
  /* ":1.42" is spelt "1_42" in request paths. */
  sender_path = g_strdup(g_dbus_connection_get_unique_name(bus) + 1);
  for (char *c = sender_path; *c; c++)
    if (*c == '.') *c = '_';
  if (start_session(input, persist) != 0) return 1;
  read_stdin_lines(handle_line, loop);
  g_main_loop_run(loop);
  if (session) {
    GVariant *r = g_dbus_connection_call_sync(bus, PORTAL_BUS, session, "org.freedesktop.portal.Session", "Close",
                                              NULL, NULL, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, NULL);
    if (r) g_variant_unref(r);
  }
  return 0;
}
