import { describe, expect, it } from 'vitest';
import { AbortError, Mplug2Error, throwIfAborted } from './errors.js';

describe('AbortError / throwIfAborted', () => {
  it('does nothing for a missing or live signal', () => {
    expect(() => throwIfAborted(undefined, 'load')).not.toThrow();
    expect(() => throwIfAborted(new AbortController().signal, 'load')).not.toThrow();
  });

  it('names what was aborted, carries code ABORTED and the signal reason as cause', () => {
    const ctl = new AbortController();
    const reason = new Error('user pressed stop');
    ctl.abort(reason);
    let caught: unknown;
    try {
      throwIfAborted(ctl.signal, 'loading VideoQA');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(AbortError);
    expect(caught).toBeInstanceOf(Mplug2Error);
    const err = caught as AbortError;
    expect(err.code).toBe('ABORTED');
    expect(err.name).toBe('AbortError');
    expect(err.what).toBe('loading VideoQA');
    expect(err.cause).toBe(reason);
    expect(err.message).toBe('loading VideoQA was aborted: user pressed stop');
  });

  it('keeps the message short for the default DOM reason and for string reasons', () => {
    const ctl = new AbortController();
    ctl.abort();
    expect(() => throwIfAborted(ctl.signal, 'caption')).toThrow(/^caption was aborted$/);
    const ctl2 = new AbortController();
    ctl2.abort('timeout');
    expect(() => throwIfAborted(ctl2.signal, 'caption')).toThrow(/^caption was aborted: timeout$/);
  });
});
