/*
 * smoldesk-link: a network link in user space, for the tests and the
 * network benchmark on kernels without tc netem (CONFIG_NET_SCH_NETEM is not
 * set on this machine's kernel). It bridges two interfaces frame by frame
 * (AF_PACKET, promiscuous), and each direction is a link with a rate, a
 * one-way delay with jitter, random loss and a router's queue, as netem
 * would make it:
 *
 *   smoldesk-link IF_A IF_B
 *   stdin lines: "a2b|b2a MBIT DELAY_MS JITTER_MS LOSS_PCT" (MBIT 0: no rate limit)
 *                "both MBIT DELAY_MS JITTER_MS LOSS_PCT"; end of file: exit.
 *
 * Frames keep their order (a jittered frame waits for the one before it, as
 * netem does with a rate). The queue holds 200 ms at the link's rate (at
 * least 20 frames); beyond it, frames are dropped (tail drop), as a router
 * does. The interfaces need their offloads off (no frame above the MTU).
 *
 * It runs at a real-time priority when it may: a wire does not wait for a
 * CPU. At normal priority, with a browser, the host and another test's
 * browser on two cores, the link itself was the queue (200 ms round trips
 * on an idle 30 Mbit/s link, seen from the congestion test), so tests read
 * this machine's load as the network's. It sleeps in poll() between frames,
 * so it takes the CPU only for the moments it forwards.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <math.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 8192
#define MAX_FRAME 9216

struct frame {
  uint64_t due_us;
  uint32_t len;
  uint8_t *data;
};

struct direction {
  const char *name;
  int in_fd, out_fd, out_ifindex;
  double mbit, delay_ms, jitter_ms, loss_pct;
  uint64_t link_free_us; /* when the last queued frame has left the wire */
  struct frame q[SLOTS];
  unsigned head, tail; /* head: next to send; tail: next free */
  unsigned long passed, lost, dropped;
};

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static double gaussian(void) {
  double u = (random() + 1.0) / ((double)RAND_MAX + 2.0), v = (random() + 1.0) / ((double)RAND_MAX + 2.0);
  return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static int open_if(const char *name, int *ifindex) {
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (fd < 0) return -1;
  int idx = (int)if_nametoindex(name);
  if (idx == 0) return -1;
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = idx};
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) return -1;
  struct packet_mreq mr = {.mr_ifindex = idx, .mr_type = PACKET_MR_PROMISC};
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) return -1;
  int big = 4 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  *ifindex = idx;
  return fd;
}

static unsigned queued(const struct direction *d) { return (d->tail - d->head) % SLOTS; }

static unsigned queue_limit(const struct direction *d) {
  if (d->mbit <= 0) return SLOTS - 1;
  unsigned n = (unsigned)(d->mbit * 1e6 * 0.2 / 8 / 1200);
  return n < 20 ? 20 : (n > SLOTS - 1 ? SLOTS - 1 : n);
}

static void receive(struct direction *d) {
  static uint8_t buf[MAX_FRAME];
  for (;;) {
    struct sockaddr_ll from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(d->in_fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    if (n < 0) return;
    if (from.sll_pkttype == PACKET_OUTGOING) continue; /* what we sent ourselves */
    if (d->loss_pct > 0 && random() < (long)(d->loss_pct / 100.0 * RAND_MAX)) {
      d->lost++;
      continue;
    }
    if (queued(d) >= queue_limit(d)) {
      d->dropped++;
      continue;
    }
    uint64_t now = now_us();
    double delay = d->delay_ms + (d->jitter_ms > 0 ? d->jitter_ms * gaussian() : 0);
    if (delay < 0) delay = 0;
    uint64_t due = now + (uint64_t)(delay * 1000);
    if (d->mbit > 0) {
      /* The frame is on the wire after the one before it; it arrives `delay` after it has left. */
      uint64_t start = d->link_free_us > now ? d->link_free_us : now;
      d->link_free_us = start + (uint64_t)((double)n * 8 / d->mbit);
      due = d->link_free_us + (uint64_t)(delay * 1000);
    }
    unsigned prev = (d->tail + SLOTS - 1) % SLOTS;
    if (queued(d) > 0 && d->q[prev].due_us > due) due = d->q[prev].due_us; /* keep the order */
    struct frame *f = &d->q[d->tail];
    f->data = malloc((size_t)n);
    if (!f->data) return;
    memcpy(f->data, buf, (size_t)n);
    f->len = (uint32_t)n;
    f->due_us = due;
    d->tail = (d->tail + 1) % SLOTS;
  }
}

static void deliver(struct direction *d, uint64_t now) {
  while (queued(d) > 0 && d->q[d->head].due_us <= now) {
    struct frame *f = &d->q[d->head];
    struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = d->out_ifindex, .sll_halen = ETH_ALEN};
    memcpy(to.sll_addr, f->data, ETH_ALEN);
    if (sendto(d->out_fd, f->data, f->len, 0, (struct sockaddr *)&to, sizeof to) < 0 && errno == EAGAIN) return;
    free(f->data);
    d->passed++;
    d->head = (d->head + 1) % SLOTS;
  }
}

static void set(struct direction *d, double mbit, double delay, double jitter, double loss) {
  d->mbit = mbit;
  d->delay_ms = delay;
  d->jitter_ms = jitter;
  d->loss_pct = loss;
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (argc != 3) {
    fprintf(stderr, "usage: smoldesk-link IF_A IF_B (shapes on stdin)\n");
    return 2;
  }
  srandom((unsigned)now_us());
  struct sched_param rt = {.sched_priority = 10};
  if (sched_setscheduler(0, SCHED_FIFO, &rt) != 0)
    fprintf(stderr, "smoldesk-link: no real-time priority (%s): the link shares the CPU\n", strerror(errno));
  static struct direction a2b = {.name = "a2b"}, b2a = {.name = "b2a"};
  int ia, ib;
  int fa = open_if(argv[1], &ia), fb = open_if(argv[2], &ib);
  if (fa < 0 || fb < 0) {
    fprintf(stderr, "smoldesk-link: cannot open %s / %s: %s\n", argv[1], argv[2], strerror(errno));
    return 3;
  }
  a2b.in_fd = fa, a2b.out_fd = fb, a2b.out_ifindex = ib;
  b2a.in_fd = fb, b2a.out_fd = fa, b2a.out_ifindex = ia;
  fprintf(stderr, "smoldesk-link: bridging %s and %s\n", argv[1], argv[2]);
  char line[256];
  size_t have = 0;
  for (;;) {
    uint64_t now = now_us();
    int timeout = 50;
    for (struct direction *d = &a2b; d; d = d == &a2b ? &b2a : NULL) {
      if (queued(d) > 0) {
        uint64_t due = d->q[d->head].due_us;
        int ms = due <= now ? 0 : (int)((due - now + 999) / 1000);
        if (ms < timeout) timeout = ms;
      }
    }
    struct pollfd p[3] = {{fa, POLLIN, 0}, {fb, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    /* Sub-millisecond precision: a due frame within the next ms is waited for by spinning briefly. */
    if (poll(p, 3, timeout) < 0 && errno != EINTR) return 4;
    if (p[0].revents & POLLIN) receive(&a2b);
    if (p[1].revents & POLLIN) receive(&b2a);
    if (p[2].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(STDIN_FILENO, line + have, sizeof line - 1 - have);
      if (n <= 0) {
        fprintf(stderr, "smoldesk-link: a2b passed %lu lost %lu dropped %lu; b2a passed %lu lost %lu dropped %lu\n",
                a2b.passed, a2b.lost, a2b.dropped, b2a.passed, b2a.lost, b2a.dropped);
        return 0;
      }
      have += (size_t)n;
      line[have] = 0;
      char *nl;
      while ((nl = strchr(line, '\n'))) {
        *nl = 0;
        char which[8];
        double mbit, delay, jitter, loss;
        if (sscanf(line, "%7s %lf %lf %lf %lf", which, &mbit, &delay, &jitter, &loss) == 5 && mbit >= 0 &&
            delay >= 0 && jitter >= 0 && loss >= 0 && loss <= 100) {
          if (strcmp(which, "a2b") == 0 || strcmp(which, "both") == 0) set(&a2b, mbit, delay, jitter, loss);
          if (strcmp(which, "b2a") == 0 || strcmp(which, "both") == 0) set(&b2a, mbit, delay, jitter, loss);
          fprintf(stderr, "smoldesk-link: %s %.2f Mbit/s, %.1f ms ± %.1f, %.2f %% loss\n", which, mbit, delay,
                  jitter, loss);
        } else {
          fprintf(stderr, "smoldesk-link: refused \"%s\"\n", line);
        }
        size_t used = (size_t)(nl - line) + 1;
        memmove(line, nl + 1, have - used + 1);
        have -= used;
      }
      if (have >= sizeof line - 1) have = 0; /* an overlong line is dropped */
    }
    now = now_us();
    deliver(&a2b, now);
    deliver(&b2a, now);
  }
}
