"""`scripts/bench-peers --check`: prove a STOMP-over-WebSocket endpoint works end to end.

One WebSocket (subprotocol v12.stomp, via websocket-client) does CONNECT, SUBSCRIBE with a
receipt, SEND to the same topic, and must get the MESSAGE back with the body it sent.
"""
import time

import websocket  # websocket-client (bench/peers/requirements.txt)


class CheckError(RuntimeError):
    pass


def frame(command, headers, body=""):
    head = "".join(f"{k}:{v}\n" for k, v in headers.items())
    return f"{command}\n{head}\n{body}\x00"


def parse(text):
    """(command, headers, body) of one STOMP frame; (None, {}, '') for a heart-beat EOL."""
    text = text.lstrip("\r\n")
    if not text:
        return None, {}, ""
    head, _, body = text.partition("\n\n")
    body = body.partition("\x00")[0]  # a NUL ends the frame; servers may add EOLs after it
    lines = head.split("\n")
    headers = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep and key not in headers:  # STOMP 1.2: the first occurrence wins
            headers[key] = value
    return lines[0].strip(), headers, body


def expect(ws, command, deadline):
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            got, headers, body = parse(ws.recv())
        except websocket.WebSocketTimeoutException:
            break
        if got is None:
            continue
        if got == "ERROR":
            raise CheckError(f"server sent ERROR: {headers.get('message', '')} {body.strip()}")
        if got == command:
            return headers, body
        raise CheckError(f"expected {command}, got {got}")
    raise CheckError(f"no {command} within the time allowed")


def check(url, login=None, passcode=None, vhost=None, destination="/topic/bench", timeout=10.0):
    """Returns a one-line summary; raises CheckError (or OSError/WebSocketException) on failure."""
    deadline = time.monotonic() + timeout
    ws = websocket.create_connection(url, subprotocols=["v12.stomp"], timeout=timeout)
    try:
        proto = ws.getsubprotocol()
        connect = {"accept-version": "1.2,1.1,1.0", "host": vhost or "/", "heart-beat": "0,0"}
        if login is not None:
            connect["login"] = login
        if passcode is not None:
            connect["passcode"] = passcode
        ws.send(frame("CONNECT", connect))
        connected, _ = expect(ws, "CONNECTED", deadline)
        ws.send(frame("SUBSCRIBE", {"id": "0", "destination": destination, "ack": "auto", "receipt": "sub"}))
        receipt, _ = expect(ws, "RECEIPT", deadline)
        if receipt.get("receipt-id") != "sub":
            raise CheckError(f"RECEIPT for {receipt.get('receipt-id')!r}, expected 'sub'")
        body = f"bench-peers check {time.time_ns()}"
        ws.send(frame("SEND", {"destination": destination, "content-type": "text/plain",
                               "content-length": str(len(body.encode()))}, body))
        message, got = expect(ws, "MESSAGE", deadline)
        if got != body:
            raise CheckError(f"MESSAGE body {got!r}, expected {body!r}")
        ws.send(frame("DISCONNECT", {}))
        return (f"{url}: subprotocol {proto}, STOMP {connected.get('version', '?')} "
                f"(server {connected.get('server', '?')}), SUBSCRIBE receipt, MESSAGE "
                f"on {message.get('destination', '?')}: ok")
    finally:
        ws.close()
