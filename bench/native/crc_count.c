/* crc_count.c: runs one CRC implementation once over a buffer, so that an instruction-counting
 * emulator (bench/riscv64-instructions: QEMU's per-instruction trace) can cost the CRC loop.
 *
 *   crc_count IMPL KIND BYTES [DATA_FILE]
 *
 * IMPL is an implementation name ("portable", "zbc", ...), KIND is "crc32c" or "crc32". The buffer
 * (page-aligned, so 8-aligned) is filled from DATA_FILE (default /dev/urandom) and the program
 * prints the CRC as 8 hex digits.
 *
 * The count of interest is count(BYTES) - count(0), so everything but the CRC call must cost the
 * same number of instructions for every size. That is why the buffer is filled by one read() (the
 * kernel's copy is not guest code, so it costs one ecall whatever the size) and not by a loop in C,
 * which would add a per-byte cost of its own; why BYTES is parsed one character at a time (give it
 * zero-padded to the same width in every run: 0000000, 0000064, 0065536); and why the result is
 * formatted without printf. The implementation is called through its own function pointer, not
 * sf_crc32c(): the dispatcher cannot detect Zbc under QEMU (no riscv_hwprobe).
 */
#define _DEFAULT_SOURCE /* open, read, mmap with MAP_ANONYMOUS under -std=c11 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "steadfast/crc.h"

static int usage(void) {
  fprintf(stderr,
          "usage: crc_count IMPL KIND BYTES [DATA_FILE]\n"
          "  IMPL: an implementation compiled into this build (e.g. portable, zbc)\n"
          "  KIND: crc32c or crc32\n"
          "  DATA_FILE: where the BYTES bytes are read from (default /dev/urandom)\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 5) return usage();
  const char *impl_name = argv[1], *kind = argv[2], *path = argc == 5 ? argv[4] : "/dev/urandom";

  const sf_crc_impl_t *impl = sf_crc_impl_find(impl_name);
  if (!impl) {
    fprintf(stderr, "crc_count: no implementation \"%s\" in this build; compiled:", impl_name);
    for (int i = 0; i < sf_crc_impl_count(); i++) fprintf(stderr, " %s", sf_crc_impl_get(i)->name);
    fprintf(stderr, "\n");
    return 2;
  }
  sf_crc_fn fn;
  if (strcmp(kind, "crc32c") == 0)
    fn = impl->crc32c;
  else if (strcmp(kind, "crc32") == 0)
    fn = impl->crc32;
  else
    return usage();
  if (!fn) {
    fprintf(stderr, "crc_count: %s has no %s function\n", impl->name, kind);
    return 2;
  }

  /* Parsed by hand, one pass per character, so that equal-width arguments cost the same. */
  size_t bytes = 0;
  const char *digit = argv[3];
  for (; *digit >= '0' && *digit <= '9' && digit - argv[3] < 15; digit++) bytes = bytes * 10 + (size_t)(*digit - '0');
  if (digit == argv[3] || *digit != '\0') return usage();

  /* mmap, not malloc: malloc's own work depends on the size (bins, brk, and trimming on free cost
   * a few hundred instructions more at 64 KiB than at 0), mmap is one system call whatever the size.
   * One byte more keeps a 0-byte run on the same path. */
  unsigned char *buffer = mmap(NULL, bytes + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buffer == MAP_FAILED) {
    perror("crc_count: mmap");
    return 1;
  }
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    perror(path);
    return 1;
  }
  /* One read(), no loop: a regular file (and /dev/urandom up to 32 MiB) fills the buffer at once. */
  ssize_t got = read(fd, buffer, bytes);
  if (got != (ssize_t)bytes) {
    if (got < 0)
      perror(path);
    else
      fprintf(stderr, "crc_count: one read() of %s gave %zd of %zu bytes (use a regular file)\n", path, got, bytes);
    return 1;
  }
  close(fd);

  uint32_t crc = fn(0, buffer, bytes);

  /* Not printf: its digit loop runs once per significant digit, so the cost would depend on the
   * CRC value. */
  char text[9];
  for (int i = 0; i < 8; i++) text[i] = "0123456789abcdef"[(crc >> (28 - 4 * i)) & 15];
  text[8] = '\n';
  if (write(STDOUT_FILENO, text, sizeof text) != (ssize_t)sizeof text) return 1;
  munmap(buffer, bytes + 1);
  return 0;
}
