"""Lua scripts of the Redis index for sync leases, repair patches and versioned writes.

Each runs atomically in one round trip. Key names are described in `redis.py`; keys of
one bucket carry its hash tag, and `{ns}:buckets` and `{ns}:sync-leases` sit outside it,
as for the other scripts of the index.
"""

from __future__ import annotations

__all__ = ["APPLY_VERSIONED", "PATCH", "RENEW"]

# KEYS: syncs, leases. ARGV: sync id, lease member, deadline.
# A session another proxy expired stays expired: 0.
RENEW = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
"""

# KEYS: buckets, keys, meta, syncs, touched, leases.
# ARGV: bucket, sync id, lease member, sync key prefix, number of puts n, n (key, meta)
# pairs, then the keys to delete. Keys written since the session began (its touched set)
# are newer than what the caller compared, so they are left alone. Ends the session.
PATCH = """
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 0 then return -1 end
redis.call('SREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[6], ARGV[3])
local applied = 0
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  local syncs = redis.call('SMEMBERS', KEYS[4])
  local function apply(key, meta)
    if redis.call('SISMEMBER', KEYS[5], key) == 1 then return end
    if meta then
      redis.call('ZADD', KEYS[2], 0, key)
      redis.call('HSET', KEYS[3], key, meta)
    else
      redis.call('ZREM', KEYS[2], key)
      redis.call('HDEL', KEYS[3], key)
    end
    for _, id in ipairs(syncs) do redis.call('SADD', ARGV[4] .. id .. ':touched', key) end
    applied = applied + 1
  end
  local last_put = 5 + 2 * tonumber(ARGV[5])
  for i = 6, last_put, 2 do apply(ARGV[i], ARGV[i + 1]) end
  for i = last_put + 1, #ARGV do apply(ARGV[i], nil) end
end
redis.call('DEL', KEYS[5])
return applied
"""

# KEYS: buckets, keys, meta, syncs, versions. ARGV: bucket, sync key prefix, then
# (key, version, meta or "" to delete) triples. Returns 1 or 0 per triple: a change
# applies only while the key's write version is still the one it was observed at.
APPLY_VERSIONED = """
local out = {}
local known = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
local syncs = redis.call('SMEMBERS', KEYS[4])
for i = 3, #ARGV, 3 do
  local key = ARGV[i]
  local current = tonumber(redis.call('HGET', KEYS[5], key) or '0')
  if known and current == tonumber(ARGV[i + 1]) then
    if ARGV[i + 2] == '' then
      redis.call('ZREM', KEYS[2], key)
      redis.call('HDEL', KEYS[3], key)
    else
      redis.call('ZADD', KEYS[2], 0, key)
      redis.call('HSET', KEYS[3], key, ARGV[i + 2])
    end
    for _, id in ipairs(syncs) do redis.call('SADD', ARGV[2] .. id .. ':touched', key) end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""
