package redisstore

import (
	"strconv"

	"github.com/redis/go-redis/v9"
)

// appendScript: KEYS hash, list; ARGV epoch candidate, ts, kind, data,
// history size, cutoff ts, key TTL ms, store instance id, append token,
// condition (hub.Condition: 0 none, 1 if changed, 2 if newer, 3 both).
// Returns {seq, epoch, appended (0 or 1)}: with a condition the last value
// does not meet, nothing is appended.
//
// The hash's field "a:INSTANCE" holds "TOKEN:SEQ" of that store
// instance's last append to the key. go-redis sends a script again when
// the connection broke before its reply (its retries, and a pipeline's);
// the same token then gets the seq it already has instead of a second
// entry. One field per instance is enough: an instance has at most one
// append of a key in flight (the pipeline's per-key lock).
var appendScript = redis.NewScript(ensureEpoch + `
local field = 'a:' .. ARGV[8]
local last = redis.call('HGET', KEYS[1], field)
if last then
  local token, given = string.match(last, '^(%d+):(%d+)$')
  if token == ARGV[9] then
    return {tonumber(given), epoch, 1}
  end
end
local cond = tonumber(ARGV[10])
if cond > 0 then
  local prev = redis.call('LINDEX', KEYS[2], -1)
  if prev then
    local ts, rest = string.match(prev, '^%d+:(%d+):(.*)$')
    local older = cond % 4 >= 2 and tonumber(ARGV[2]) < tonumber(ts)
    local same = cond % 2 == 1 and rest == ARGV[3] .. ':' .. ARGV[4]
    if older or same then
      return {tonumber(redis.call('HGET', KEYS[1], 'seq')), epoch, 0}
    end
  end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], field, ARGV[9] .. ':' .. seq)
redis.call('HDEL', KEYS[1], 'stale')
redis.call('RPUSH', KEYS[2], seq .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
` + ageTrim(6) + `
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return {seq, epoch, 1}
`)

// ensureEpoch is the Lua that reads the key's epoch into epoch, first
// giving a key without one (new, or lost by Redis) the candidate in ARGV[1]
// at seq 0 and dropping any history left under the old one.
const ensureEpoch = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
`

// ageTrim returns Lua that drops the oldest entries published before the
// cutoff ts in ARGV[arg], keeping the last.
func ageTrim(arg int) string {
	return `
local cutoff = tonumber(ARGV[` + strconv.Itoa(arg) + `])
while redis.call('LLEN', KEYS[2]) > 1 do
  local first = redis.call('LINDEX', KEYS[2], 0)
  local ts = tonumber(string.match(first, '^%d+:(%d+):'))
  if ts == nil or ts >= cutoff then break end
  redis.call('LPOP', KEYS[2])
end
`
}

// readScript: KEYS hash, list; ARGV epoch candidate, mode ("last" or
// "since"), since, cutoff ts, key TTL ms. Returns {seq, epoch, recovered
// (0 or 1), entries}: for "since" the entries after since when the list
// holds all of them (recovered 1), else the last entry alone.
var readScript = redis.NewScript(ensureEpoch + `
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local stale = tonumber(redis.call('HGET', KEYS[1], 'stale') or '0')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local since = tonumber(ARGV[3])
if ARGV[2] == 'since' and since == seq then
  return {seq, epoch, 1, {}, stale}
end
` + ageTrim(4) + `
local n = redis.call('LLEN', KEYS[2])
if ARGV[2] == 'last' or since > seq or n == 0 or since + 1 < seq - n + 1 then
  return {seq, epoch, 0, redis.call('LRANGE', KEYS[2], -1, -1), stale}
end
return {seq, epoch, 1, redis.call('LRANGE', KEYS[2], n - (seq - since), -1), stale}
`)

// staleScript: KEYS hash, list; ARGV epoch candidate, since (unix ms; 0
// clears), key TTL ms. Marks the key stale, or not.
var staleScript = redis.NewScript(ensureEpoch + `
if ARGV[2] == '0' then
  redis.call('HDEL', KEYS[1], 'stale')
else
  redis.call('HSET', KEYS[1], 'stale', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)
