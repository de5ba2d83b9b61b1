import { describe, expect, it } from 'vitest';
import { crc32, crc32Fast } from './crc32.js';

describe('crc32', () => {
  it('the check value, JS and native agreeing, incrementally', async () => {
    const data = new Uint8Array(100_003);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(await crc32Fast(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const whole = crc32(data);
    expect(await crc32Fast(data)).toBe(whole);
    expect(await crc32Fast(data.subarray(50_000), await crc32Fast(data.subarray(0, 50_000)))).toBe(whole);
    expect(crc32(data.subarray(7), crc32(data.subarray(0, 7)))).toBe(whole);
  });
});
