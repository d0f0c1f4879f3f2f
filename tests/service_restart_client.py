#!/usr/bin/env python3
"""The client side of tests/service_restart_test.sh (python3-zmq, python3-msgpack).

    service_restart_client.py before ENDPOINT STATE   acts 3000 times (16 in flight), sends a
        ground-truth label for the first 100 decisions and a reward for the next 100, and writes
        the decision ids it was answered (STATE, JSON)
    service_restart_client.py after ENDPOINT STATE    after the restart: labels for decisions
        200..299 of the earlier run (accepted: joined from the journal), a second label for
        decision 0 (refused: duplicate_label), feedback for an id never issued (refused:
        unknown_decision), and one act, whose id must follow every earlier one

Exit status 0 when every reply is what the protocol promises.
"""
import json
import sys

import msgpack
import zmq


def main():
    phase, endpoint, state_path = sys.argv[1:4]
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVTIMEO, 10000)
    socket.connect(endpoint)
    next_req = [1]

    def send(type_, **fields):
        req = next_req[0]
        next_req[0] += 1
        socket.send(msgpack.packb({"v": 1, "type": type_, "req": req, **fields}))
        return req

    def receive():
        return msgpack.unpackb(socket.recv(), raw=False)

    def call(type_, **fields):
        req = send(type_, **fields)
        reply = receive()
        assert reply.get("req") == req, reply
        return reply

    if phase == "before":
        ids, outstanding, sent = [], set(), 0
        while len(ids) < 3000:
            while sent < 3000 and len(outstanding) < 16:
                outstanding.add(send("act", obs=[0.1 * (sent % 7), 0.2, -0.3, 0.4, 0.0, 1.0]))
                sent += 1
            reply = receive()
            assert reply["type"] == "act", reply
            outstanding.discard(reply["req"])
            ids.append(reply["id"])
        ids.sort()
        for i in ids[:100]:
            reply = call("feedback", id=i, label=1)
            assert reply["type"] == "feedback", reply
        for i in ids[100:200]:
            reply = call("feedback", id=i, reward=1.0, done=True)
            assert reply["type"] == "feedback", reply
        with open(state_path, "w") as f:
            json.dump({"ids": ids}, f)
        print(f"before: 3000 decisions ({ids[0]}..{ids[-1]}), 200 feedback accepted")
        return 0

    with open(state_path) as f:
        ids = json.load(f)["ids"]
    for i in ids[200:300]:
        reply = call("feedback", id=i, label=0)
        assert reply["type"] == "feedback", f"feedback for {i} after the restart: {reply}"
    reply = call("feedback", id=ids[0], label=0)
    assert reply.get("code") == "duplicate_label", reply
    reply = call("feedback", id=ids[-1] + 10**6, label=0)
    assert reply.get("code") == "unknown_decision", reply
    reply = call("act", obs=[0.0] * 6)
    assert reply["type"] == "act" and reply["id"] > ids[-1], reply
    print(f"after: 100 feedback for earlier decisions accepted, duplicate and unknown refused, "
          f"new decision {reply['id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
