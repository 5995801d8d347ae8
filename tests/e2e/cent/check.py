# Drives the Python `cent` API client (as pycent's own tests do) against a running Herald.
# Usage: python check.py <api base url> <api key>. Exits non-zero on the first mismatch.
import sys
from cent import (Client, PublishRequest, BroadcastRequest, SubscribeRequest, UnsubscribeRequest,
    DisconnectRequest, PresenceRequest, PresenceStatsRequest, HistoryRequest, HistoryRemoveRequest,
    InfoRequest, ChannelsRequest, RefreshRequest, BatchRequest, CentApiResponseError, StreamPosition,
    Disconnect)
url, key = sys.argv[1], sys.argv[2]
c = Client(url, key)
r = c.publish(PublishRequest(channel="personal_1", data={"data": "Hello world!"}))
assert r.offset and r.offset > 0, r
print("publish", r)
print("broadcast", c.broadcast(BroadcastRequest(channels=["personal_1", "personal_2"], data={"data": "x"})))
print("subscribe", c.subscribe(SubscribeRequest(user="user", channel="personal_1")))
print("unsubscribe", c.unsubscribe(UnsubscribeRequest(user="user", channel="personal_1")))
print("disconnect", c.disconnect(DisconnectRequest(user="user", disconnect=Disconnect(code=4000, reason="reason"))))
print("presence", c.presence(PresenceRequest(channel="personal_1")))
print("presence_stats", c.presence_stats(PresenceStatsRequest(channel="personal_1")))
h = c.history(HistoryRequest(channel="personal_1", limit=1, reverse=True))
print("history", h)
print("history since", c.history(HistoryRequest(channel="personal_1", limit=10, since=StreamPosition(offset=0, epoch=h.epoch))))
print("history_remove", c.history_remove(HistoryRemoveRequest(channel="personal_1")))
print("info", c.info(InfoRequest()))
print("channels", c.channels(ChannelsRequest(pattern="*")))
print("refresh", c.refresh(RefreshRequest(user="user", expire_at=1)))
b = c.batch(BatchRequest(requests=[PublishRequest(channel="personal_1", data={"a": 1}), PresenceRequest(channel="personal_1")]))
print("batch", b)
assert b.replies[1].presence == {}
try:
    c.publish(PublishRequest(channel="undefined:channel", data={}))
    raise SystemExit("expected 102")
except CentApiResponseError as e:
    assert e.code == 102, e
    print("102 ok")
print("ALL OK")
