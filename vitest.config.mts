import { defineConfig } from 'vitest/config';

// Under QEMU every riscv64 instruction is emulated, so the generous timeouts are for that run; no
// test measures time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
