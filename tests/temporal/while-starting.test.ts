import { describe, expect, it } from 'vitest';
import { whileStarting } from '../../temporal/while-starting';

const starting = () => new Error("Failed to call GetSystemInfo: code: 'The service is currently unavailable', message: \"Frontend is not healthy yet\"");

describe('whileStarting', () => {
  it('retries while the frontend says it is not healthy yet, then returns what the call returns', async () => {
    let calls = 0;
    const result = await whileStarting(async () => {
      calls += 1;
      if (calls < 3) throw starting();
      return 'connected';
    });
    expect(result).toBe('connected');
    expect(calls).toBe(3);
  });

  it('throws any other error at once', async () => {
    let calls = 0;
    const refused = whileStarting(async () => {
      calls += 1;
      throw new Error('connect ECONNREFUSED 127.0.0.1:7233');
    });
    await expect(refused).rejects.toThrow('ECONNREFUSED');
    expect(calls).toBe(1);
  });

  it('gives up with the last error once its limit has passed', async () => {
    let calls = 0;
    const never = whileStarting(async () => {
      calls += 1;
      throw starting();
    }, 300);
    await expect(never).rejects.toThrow('not healthy yet');
    expect(calls).toBeGreaterThanOrEqual(2);
  });
});
