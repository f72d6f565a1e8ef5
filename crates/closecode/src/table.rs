//! The registry itself: one entry per close code or range, in English and Simplified Chinese.
//!
//! Owns the words; nothing else. Ordered by code, each range directly before the specific codes
//! inside it. Sources: RFC 6455 §7.4.1/§7.4.2, the IANA "WebSocket Close Code Number Registry",
//! sockjs-protocol / sockjs-client / sockjs-node, Spring's `CloseStatus`, and stompbox's own
//! codes. The unit tests in `lib.rs` check ordering, coverage and wire validity.

use crate::{Entry, Sender, Source, Text};

/// Every close code and range stompbox knows, ordered by code; a range comes directly before
/// the specific codes inside it. [`crate::lookup`] prefers the specific entry.
pub const REGISTRY: &[Entry] = &[
    Entry {
        lo: 0,
        hi: 999,
        name: "Unused",
        constant: "CLOSE_UNUSED",
        sender: Sender::Never,
        sources: &[Source::Rfc6455],
        on_wire: false,
        en: Text {
            meaning: "Codes below 1000 are not used by the WebSocket protocol. RFC 6455 §7.4.2 \
                      leaves 0–999 unused; an endpoint must not send them, and a peer that \
                      receives one should fail the connection as a protocol error.",
            causes: &[
                "Application code passed an HTTP status (400, 403, 500) or its own error number \
                 as the close code.",
                "A client library reports 0 or a small number when there was no close event at \
                 all, for example when the connection never opened.",
                "A buggy or hand-written WebSocket implementation, or a corrupted Close frame.",
            ],
            fixes: &[
                "Close with a real code: 1000 for a normal end, 1008 or 1011 for errors, or a \
                 code of your own in 4000–4999 (4403 reads like HTTP 403).",
                "If your library reports 0, look at its error callback instead: the connection \
                 probably failed before the handshake completed (DNS, TCP, TLS or HTTP upgrade).",
                "Search server-side and non-browser code for the number: browsers refuse \
                 close(code) for anything but 1000 and 3000–4999, so page scripts did not send it.",
            ],
        },
        zh: Text {
            meaning: "1000 以下的状态码未被 WebSocket 协议使用。RFC 6455 §7.4.2 规定 0–999 \
                      不使用；端点不得发送，收到的一方应当按协议错误处理并断开连接。",
            causes: &[
                "应用代码把 HTTP 状态码（400、403、500）或自定义错误号直接当成了关闭码。",
                "某些客户端库在根本没有关闭事件时（例如连接从未建立成功）会报告 0 或一个很小的数。",
                "有缺陷或手写的 WebSocket 实现，或者 Close 帧被破坏。",
            ],
            fixes: &[
                "使用真正的关闭码：正常结束用 1000，出错用 1008 或 1011，自定义原因放在 \
                 4000–4999（例如 4403 对应 HTTP 403）。",
                "如果客户端库报告的是 0，请查看它的错误回调：连接很可能在握手完成前就失败了\
                 （DNS、TCP、TLS 或 HTTP 升级阶段）。",
                "在服务端和非浏览器代码中查找这个数字：浏览器的 close(code) 只接受 1000 和 \
                 3000–4999，所以它不是页面脚本发出的。",
            ],
        },
        notes_en: "tungstenite treats any code below 1000 as invalid and answers a Close frame \
                   carrying one with 1002 \"Protocol violation\".",
        notes_zh: "tungstenite 把 1000 以下的状态码视为非法，收到携带此类状态码的 Close 帧时会以 \
                   1002 \"Protocol violation\" 回应。",
    },
    Entry {
        lo: 1000,
        hi: 1000,
        name: "Normal Closure",
        constant: "CLOSE_NORMAL",
        sender: Sender::Either,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "The connection was closed on purpose after doing its job. In RFC 6455's \
                      words, the purpose for which the connection was established has been \
                      fulfilled. A clean closing handshake took place: one side sent a Close \
                      frame with 1000 and the other answered.",
            causes: &[
                "The client called close(), or the STOMP client disconnected (DISCONNECT, then \
                 close).",
                "The server ended the session deliberately: logout, session expiry, an admin \
                 kicked the user, or the application called close() without a code (sockjs-node \
                 uses 1000 \"Normal closure\" by default).",
                "The front-end component that owned the socket was unmounted or rendered again \
                 (React StrictMode runs effects twice in development) and closed the socket it \
                 had just opened.",
            ],
            fixes: &[
                "If you expected it, nothing to do.",
                "If you did not, find out who called close(): the reason string, both sides' \
                 application logs, and the order of the Close frames (whoever sent Close first \
                 started it).",
                "A client that should stay connected must reconnect after an unexpected 1000 \
                 from the server too: \"clean\" does not mean \"the user wanted it\".",
            ],
        },
        zh: Text {
            meaning: "连接完成了使命，被有意地关闭。用 RFC 6455 的话说，建立连接的目的已经达成。\
                      双方完成了正常的关闭握手：一方发送携带 1000 的 Close 帧，另一方回应。",
            causes: &[
                "客户端调用了 close()，或 STOMP 客户端执行了断开（先发 DISCONNECT，再关闭连接）。",
                "服务端主动结束会话：用户登出、会话过期、被管理员踢下线，或者应用调用 close() 时\
                 没有指定状态码（sockjs-node 默认使用 1000 \"Normal closure\"）。",
                "持有连接的前端组件被卸载或重新渲染（开发环境下 React StrictMode 会把 effect \
                 执行两次），关掉了刚打开的连接。",
            ],
            fixes: &[
                "如果这是预期行为，无需处理。",
                "如果不是，需要查清是谁调用了 close()：看 reason 字符串、双方的应用日志，以及 \
                 Close 帧的先后顺序（先发送 Close 的一方是发起方）。",
                "需要保持在线的客户端，在服务端意外发来 1000 时也应重连：“干净地关闭”不等于\
                 “用户想要关闭”。",
            ],
        },
        notes_en: "1000 only says the closing handshake was clean, not that nothing went wrong: \
                   some servers use it for every close. The reason text (up to 123 bytes) \
                   usually carries the detail.",
        notes_zh: "1000 只说明关闭握手是干净的，并不说明一切正常：有些服务端对所有关闭都使用 \
                   1000。具体原因通常写在 reason 文本里（最多 123 字节）。",
    },
    Entry {
        lo: 1001,
        hi: 1001,
        name: "Going Away",
        constant: "CLOSE_GOING_AWAY",
        sender: Sender::Either,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "An endpoint is going away. RFC 6455 gives two examples: a server going \
                      down, or a browser navigating away from the page that opened the \
                      connection.",
            causes: &[
                "The user reloaded the page, navigated elsewhere or closed the tab: the browser \
                 itself sends 1001.",
                "The server is shutting down or being redeployed: Tomcat, Jetty, Spring and many \
                 servers send 1001 to open sessions on a graceful stop (Kubernetes rolling \
                 updates, systemd restarts).",
                "A proxy or load balancer in the path is draining connections during a reload \
                 or scale-in.",
                "A mobile app went to the background and its WebSocket library closed the \
                 connection.",
            ],
            fixes: &[
                "On the client, expect it on navigation and do not show an error.",
                "When the server sent it, reconnect with exponential backoff plus random jitter, \
                 so that thousands of clients do not reconnect in the same second after a deploy.",
                "For deploys, drain: stop accepting new connections, send 1001 (or 1012) to open \
                 sessions, and give clients time to move to another instance before the process \
                 exits.",
            ],
        },
        zh: Text {
            meaning: "某一端正在离开。RFC 6455 给出的两个例子：服务端关闭，或浏览器离开了打开该\
                      连接的页面。",
            causes: &[
                "用户刷新页面、跳转到其他页面或关闭标签页：浏览器自己会发送 1001。",
                "服务端正在停机或重新部署：Tomcat、Jetty、Spring 以及很多服务器在优雅停机时会\
                 向在线会话发送 1001（例如 Kubernetes 滚动更新、systemd 重启）。",
                "链路中的代理或负载均衡器在重载配置或缩容时正在排空连接。",
                "移动端应用切到后台，它的 WebSocket 库主动关闭了连接。",
            ],
            fixes: &[
                "在客户端，页面跳转时收到 1001 属于正常现象，不要提示错误。",
                "如果是服务端发送的，客户端应按指数退避加随机抖动重连，避免发布后成千上万的客户端\
                 在同一秒重连。",
                "发布时做连接排空：停止接受新连接，向在线会话发送 1001（或 1012），给客户端留出\
                 切换到其他实例的时间，然后再退出进程。",
            ],
        },
        notes_en: "Page scripts cannot send 1001 themselves: WebSocket.close() accepts only 1000 \
                   and 3000–4999. A 1001 that a server receives from a browser therefore comes \
                   from the browser, usually when the page unloads.",
        notes_zh: "页面脚本自己无法发送 1001：WebSocket.close() 只接受 1000 和 3000–4999。\
                   因此服务端从浏览器收到的 1001 是浏览器自己发的，通常发生在页面卸载时。",
    },
    Entry {
        lo: 1002,
        hi: 1002,
        name: "Protocol Error",
        constant: "CLOSE_PROTOCOL_ERROR",
        sender: Sender::Either,
        sources: &[Source::Rfc6455, Source::Iana, Source::SockJs],
        on_wire: true,
        en: Text {
            meaning: "The endpoint is terminating the connection because of a protocol error. \
                      In RFC 6455 that is a violation of the WebSocket framing rules. SockJS \
                      reuses 1002 for two closes of its own: a server answers \
                      c[1002,\"Connection interrupted\"] when the previous HTTP request of a \
                      streaming or polling session was cut off, and sockjs-client reports 1002 \
                      \"Cannot connect to server\" when its /info request failed.",
            causes: &[
                "A frame broke RFC 6455 §5: an unmasked frame from a client or a masked one from \
                 a server, RSV bits set without a negotiated extension (a permessage-deflate \
                 mismatch), a fragmented control frame or one over 125 bytes, an unknown opcode, \
                 or a continuation frame with nothing to continue.",
                "A middlebox mangled the byte stream after the upgrade: an HTTP-inspecting proxy, \
                 antivirus or corporate gateway that does not treat the connection as an opaque \
                 tunnel.",
                "The peer sent a close code that may not be used on the wire (0–999, 1004–1006, \
                 1015, 1016–2999, 5000 and up); tungstenite replaces it with 1002 \"Protocol \
                 violation\", and tungstenite 0.29 (the version stompbox uses) still does so for 1014.",
                "SockJS \"Connection interrupted\": the HTTP request receiving for an \
                 xhr-streaming, xhr-polling or eventsource session was aborted (network blip, \
                 proxy timeout, page closed mid-request), and the server marked the session \
                 interrupted.",
                "sockjs-client \"Cannot connect to server\": GET <url>/info failed — wrong URL or \
                 prefix, CORS rejection, the proxy returned 404 or 502, or the server is down.",
            ],
            fixes: &[
                "Capture the traffic (devtools → Network → WS → Messages, Wireshark, or \
                 `stompbox proxy`) and find the frame just before the Close; the reason string \
                 often names the broken rule.",
                "Disable permessage-deflate on one side to see whether extension negotiation is \
                 the cause.",
                "Make proxies treat upgraded connections as tunnels (nginx: proxy_http_version \
                 1.1 plus the Upgrade and Connection headers; HAProxy: timeout tunnel) and exempt \
                 the endpoint from TLS inspection.",
                "SockJS \"Connection interrupted\": the session cannot be resumed, so open a new \
                 SockJS connection, and fix what cut the request (proxy timeouts, proxy_buffering \
                 on streaming paths).",
                "SockJS \"Cannot connect to server\": open <url>/info in a browser; it must return \
                 JSON such as {\"websocket\":true,...}. Fix the prefix, the allowed origins or \
                 the proxy route until it does.",
            ],
        },
        zh: Text {
            meaning: "端点因协议错误而终止连接。在 RFC 6455 中指违反了 WebSocket 的帧格式规则。\
                      SockJS 还把 1002 用于它自己的两种关闭：流式或轮询会话的上一个 HTTP 请求被\
                      中断时，服务端回复 c[1002,\"Connection interrupted\"]；/info 请求失败时，\
                      sockjs-client 报告 1002 \"Cannot connect to server\"。",
            causes: &[
                "某个帧违反了 RFC 6455 §5：客户端发出的帧没有掩码或服务端发出的帧带了掩码、未协商\
                 扩展却设置了 RSV 位（permessage-deflate 协商不一致）、控制帧被分片或超过 125 \
                 字节、未知的操作码，或者出现了无从接续的延续帧。",
                "升级之后字节流被中间设备篡改：会解析 HTTP 的代理、杀毒软件或企业网关没有把该连接\
                 当作透明隧道。",
                "对端发送了不允许出现在线路上的关闭码（0–999、1004–1006、1015、1016–2999、5000 \
                 及以上）；tungstenite 会把它替换为 1002 \"Protocol violation\"，tungstenite \
                 0.30 对 1014 仍然如此。",
                "SockJS \"Connection interrupted\"：xhr-streaming、xhr-polling 或 eventsource \
                 会话中负责接收的 HTTP 请求被中断（网络抖动、代理超时、请求途中页面被关闭），\
                 服务端把会话标记为已中断。",
                "sockjs-client \"Cannot connect to server\"：GET <url>/info 失败——URL 或前缀错误、\
                 被 CORS 拒绝、代理返回 404 或 502，或者服务端没有运行。",
            ],
            fixes: &[
                "抓包（开发者工具 → Network → WS → Messages、Wireshark 或 `stompbox proxy`），\
                 找到 Close 之前的最后一个帧；reason 字符串往往会写明违反了哪条规则。",
                "在一端关闭 permessage-deflate，确认是否是扩展协商导致的。",
                "让代理把升级后的连接当作隧道处理（nginx：proxy_http_version 1.1 并设置 Upgrade \
                 和 Connection 头；HAProxy：timeout tunnel），并让该端点绕过 TLS 解密检查。",
                "SockJS \"Connection interrupted\"：该会话无法恢复，需要新建 SockJS 连接；同时\
                 修复中断请求的根源（代理超时、流式路径上的 proxy_buffering）。",
                "SockJS \"Cannot connect to server\"：在浏览器中直接打开 <url>/info，它应当返回\
                 类似 {\"websocket\":true,...} 的 JSON；修正前缀、允许的来源或代理路由，直到\
                 能正常返回。",
            ],
        },
        notes_en: "The sockjs-protocol test suite lets a server answer the request that follows \
                   an aborted one either with c[1002,\"Connection interrupted\"] or by starting \
                   a fresh session.",
        notes_zh: "sockjs-protocol 的测试用例允许服务端对中断之后的下一个请求二选一：回复 \
                   c[1002,\"Connection interrupted\"]，或者直接开始一个新会话。",
    },
    Entry {
        lo: 1003,
        hi: 1003,
        name: "Unsupported Data",
        constant: "CLOSE_UNSUPPORTED",
        sender: Sender::Either,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "The endpoint received a type of data it cannot accept. The RFC's example: \
                      an endpoint that understands only text data may send 1003 when it \
                      receives a binary message.",
            causes: &[
                "A client sent binary frames (ArrayBuffer, Blob, Buffer) to a text-only endpoint, \
                 or text to a binary-only one.",
                "A STOMP client configured to send binary frames (for example @stomp/stompjs \
                 with forceBinaryWSFrames) talks to a server that accepts only text frames.",
                "A generic WebSocket client is talking to an endpoint built for one specific \
                 subprotocol.",
            ],
            fixes: &[
                "Send the frame type the endpoint expects; for STOMP over WebSocket, text frames \
                 work everywhere.",
                "If binary payloads are needed, enable binary frames on the server, or encode \
                 them (base64) inside text frames — SockJS can carry only text anyway.",
                "Check the negotiated Sec-WebSocket-Protocol (v12.stomp, v11.stomp or v10.stomp \
                 for STOMP).",
            ],
        },
        zh: Text {
            meaning: "端点收到了它无法接受的数据类型。RFC 的例子：只理解文本数据的端点在收到二进制\
                      消息时可以发送 1003。",
            causes: &[
                "客户端向只接受文本的端点发送了二进制帧（ArrayBuffer、Blob、Buffer），或者反过来\
                 向只接受二进制的端点发送了文本。",
                "STOMP 客户端被配置为发送二进制帧（例如 @stomp/stompjs 的 forceBinaryWSFrames），\
                 而服务端只接受文本帧。",
                "通用的 WebSocket 客户端连接到了专为某个子协议设计的端点。",
            ],
            fixes: &[
                "按端点要求的类型发送帧；STOMP over WebSocket 使用文本帧兼容性最好。",
                "如果确实需要二进制负载，要么在服务端开启二进制帧支持，要么编码（base64）后放进\
                 文本帧——SockJS 本来就只能传文本。",
                "检查协商出的 Sec-WebSocket-Protocol（STOMP 对应 v12.stomp、v11.stomp 或 \
                 v10.stomp）。",
            ],
        },
        notes_en: "",
        notes_zh: "",
    },
    Entry {
        lo: 1004,
        hi: 1004,
        name: "Reserved",
        constant: "CLOSE_RESERVED",
        sender: Sender::Never,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: false,
        en: Text {
            meaning: "Reserved; RFC 6455 says its meaning might be defined in the future. No \
                      meaning has been assigned, so an endpoint must not send it.",
            causes: &[
                "Application code picked 1004 as a \"custom\" code, believing 1000–1015 is free \
                 to use.",
                "An old or buggy WebSocket library mapped some internal condition to 1004.",
            ],
            fixes: &[
                "Use 1000, 1008 or 1011 for standard situations, or a code of your own in \
                 4000–4999.",
                "Expect strict peers to answer a Close carrying 1004 with 1002 Protocol Error; \
                 tungstenite does.",
            ],
        },
        zh: Text {
            meaning: "保留码；RFC 6455 说它的含义可能在将来定义。目前没有分配任何含义，端点不得\
                      发送。",
            causes: &[
                "应用代码以为 1000–1015 可以随便用，选了 1004 作为“自定义”状态码。",
                "老旧或有缺陷的 WebSocket 库把某种内部状况映射成了 1004。",
            ],
            fixes: &[
                "标准场景使用 1000、1008 或 1011，自定义原因请使用 4000–4999。",
                "严格的对端收到携带 1004 的 Close 帧时会回以 1002 Protocol Error，tungstenite \
                 就是这样做的。",
            ],
        },
        notes_en: "",
        notes_zh: "",
    },
    Entry {
        lo: 1005,
        hi: 1005,
        name: "No Status Received",
        constant: "CLOSE_NO_STATUS",
        sender: Sender::Never,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: false,
        en: Text {
            meaning: "A Close frame arrived without a status code. Reserved: it is never sent; \
                      an endpoint reports 1005 locally when the peer's Close frame had an empty \
                      body.",
            causes: &[
                "The peer called close() without a code: browsers, Node's ws and many other \
                 libraries then send a Close frame with no body.",
                "A proxy or gateway terminated the WebSocket itself and sent an empty Close \
                 frame.",
            ],
            fixes: &[
                "Treat it like a normal closure: a Close frame was received, so the closing \
                 handshake was clean (unlike 1006).",
                "Always pass an explicit code and reason when closing, for example \
                 ws.close(1000, \"bye\"), so that the other side's logs say why.",
            ],
        },
        zh: Text {
            meaning: "收到的 Close 帧中没有状态码。保留码，永远不会被发送；当对端的 Close 帧负载\
                      为空时，端点在本地报告 1005。",
            causes: &[
                "对端调用 close() 时没有传状态码：浏览器、Node 的 ws 以及很多其他库此时会发送\
                 不带负载的 Close 帧。",
                "代理或网关自己终止了 WebSocket，并发送了空的 Close 帧。",
            ],
            fixes: &[
                "按正常关闭处理即可：确实收到了 Close 帧，关闭握手是干净的（这一点和 1006 \
                 不同）。",
                "关闭时总是显式传入状态码和原因，例如 ws.close(1000, \"bye\")，这样对端的日志\
                 才能说明原因。",
            ],
        },
        notes_en: "Spring calls it CloseStatus.NO_STATUS_CODE.",
        notes_zh: "Spring 中对应 CloseStatus.NO_STATUS_CODE。",
    },
    Entry {
        lo: 1006,
        hi: 1006,
        name: "Abnormal Closure",
        constant: "CLOSE_ABNORMAL",
        sender: Sender::Never,
        sources: &[Source::Rfc6455, Source::Iana, Source::SockJs],
        on_wire: false,
        en: Text {
            meaning: "The connection closed without a Close frame. Reserved: it is never sent; \
                      an endpoint reports 1006 locally when the TCP (or TLS) connection ended — \
                      or the opening handshake failed — without a closing handshake. It is the \
                      symptom, not the cause: something at or between the endpoints cut the \
                      connection.",
            causes: &[
                "A proxy idle timeout shorter than the heartbeat interval: nginx closes an \
                 upgraded connection after proxy_read_timeout (default 60 s) without traffic. \
                 SockJS servers send an `h` frame every 25 s by default, which is enough for \
                 60 s; setting proxy_read_timeout 10s reproduces 1006 after about 10 s, before \
                 the first heartbeat.",
                "Load balancer and cloud idle timeouts: AWS ALB 60 s by default, Azure Load \
                 Balancer 4 minutes; Google Cloud's external HTTP(S) load balancer uses the \
                 backend service timeout (default 30 s) as the maximum lifetime of a WebSocket, \
                 idle or not.",
                "The opening handshake failed: the server or a proxy answered 401, 403, 404 or \
                 502, or nginx lacked proxy_http_version 1.1 / Upgrade / Connection \"upgrade\". \
                 Browsers hide the HTTP status from scripts and report only 1006.",
                "The network went away: Wi-Fi switch, mobile handover, laptop sleep, VPN \
                 reconnect, a NAT or firewall dropping an idle mapping.",
                "The server process died without closing: crash, kill -9, the OOM killer, a \
                 container restart, or a deploy that stops instances without sending 1001 or \
                 1012 first.",
                "TLS failures (untrusted or expired certificate) also show up as 1006 in \
                 browsers; the console shows the real TLS error.",
                "sockjs-client reports 1006 \"WebSocket connection broken\" when its WebSocket \
                 fails, and 1006 \"Server lost session\" when the server opens the same session \
                 again (it restarted and forgot it).",
            ],
            fixes: &[
                "Keep every heartbeat well below every idle timeout on the path — at most half \
                 of the smallest. With nginx's 60 s default, SockJS's 25 s heartbeat is fine; \
                 behind a 10 s proxy timeout you need 5 s or less. Enable STOMP heart-beats in \
                 both directions too.",
                "Or raise the idle timeouts on the WebSocket route: nginx proxy_read_timeout \
                 3600s (and proxy_send_timeout), the ALB idle timeout attribute, HAProxy \
                 timeout tunnel 1h.",
                "Measure the real idle timeout between client and server with `stompbox probe` \
                 instead of guessing which box in the path cuts the connection.",
                "Let the server tell you: stompbox logs `serverIdle=` on every `session closed` \
                 line, warns when several 1006s follow the same server silence (\"an idle \
                 timeout of about 60 s lies between clients and this server\"), and \
                 `stompbox stats` and /metrics show the histogram of those silences.",
                "Check the handshake: in devtools the WebSocket request must end in 101 \
                 Switching Protocols; the access log of each proxy shows what it returned \
                 instead.",
                "Enable client reconnect with exponential backoff and jitter, and resubscribe \
                 after reconnecting: some 1006s (sleep, network changes) cannot be prevented.",
                "Shut servers down gracefully so that clients get 1001 or 1012 instead of 1006.",
            ],
        },
        zh: Text {
            meaning: "连接在没有收到 Close 帧的情况下关闭了。保留码，永远不会被发送；当 TCP（或 \
                      TLS）连接结束——或者打开握手失败——却没有经过关闭握手时，端点在本地报告 \
                      1006。它是现象而不是原因：是某一端或两端之间的某个环节切断了连接。",
            causes: &[
                "代理的空闲超时比心跳间隔短：nginx 在 proxy_read_timeout（默认 60 秒）内没有流量\
                 就会关闭已升级的连接。SockJS 服务端默认每 25 秒发送一次 `h` 心跳帧，对 60 秒来说\
                 足够；把 proxy_read_timeout 设为 10s 就能复现：大约 10 秒后、第一次心跳之前就出现\
                 了 1006。",
                "负载均衡和云服务的空闲超时：AWS ALB 默认 60 秒，Azure 负载均衡器 4 分钟；Google \
                 Cloud 外部 HTTP(S) 负载均衡器把后端服务超时（默认 30 秒）作为 WebSocket 连接的\
                 最长存活时间，不论是否空闲。",
                "打开握手失败：服务端或代理返回了 401、403、404 或 502，或者 nginx 缺少 \
                 proxy_http_version 1.1 / Upgrade / Connection \"upgrade\" 配置。浏览器不会把 \
                 HTTP 状态码暴露给脚本，只报告 1006。",
                "网络中断：切换 Wi-Fi、移动网络切换基站、笔记本休眠、VPN 重连、NAT 或防火墙清除了\
                 空闲的连接映射。",
                "服务端进程没有关闭连接就退出了：崩溃、kill -9、被 OOM killer 杀掉、容器重启，\
                 或者发布时没有先发送 1001 或 1012 就停掉了实例。",
                "TLS 失败（证书不受信任或已过期）在浏览器中同样表现为 1006；真正的 TLS 错误打印在\
                 控制台里。",
                "sockjs-client 在 WebSocket 出错时报告 1006 \"WebSocket connection broken\"，\
                 在服务端再次打开同一个会话（服务端重启后丢失了会话）时报告 1006 \"Server lost \
                 session\"。",
            ],
            fixes: &[
                "让所有心跳间隔都远小于链路上的每一个空闲超时——不超过最小值的一半。nginx 默认 \
                 60 秒时，SockJS 的 25 秒心跳没有问题；代理超时为 10 秒时，心跳需要 5 秒或更短。\
                 同时开启双向的 STOMP 心跳。",
                "或者调大 WebSocket 路由的空闲超时：nginx 的 proxy_read_timeout 3600s（以及 \
                 proxy_send_timeout）、ALB 的空闲超时属性、HAProxy 的 timeout tunnel 1h。",
                "用 `stompbox probe` 实测客户端到服务端之间真实的空闲超时，而不是猜测链路上\
                 哪一环切断了连接。",
                "让服务端告诉你：stompbox 在每条 `session closed` 日志里记录 `serverIdle=`（关闭前\
                 服务端已沉默多久）；当多个 1006 发生在相同的沉默时长之后，会输出一条警告（\"客户端与\
                 服务端之间存在约 60 秒的空闲超时\"）；`stompbox stats` 和 /metrics 给出这些沉默\
                 时长的直方图。",
                "检查握手：开发者工具中 WebSocket 请求应以 101 Switching Protocols 结束；否则\
                 查看各级代理的访问日志，看它们返回了什么。",
                "客户端开启自动重连（指数退避加随机抖动），重连后重新订阅：有些 1006（休眠、网络\
                 切换）是无法避免的。",
                "让服务端优雅停机，使客户端收到 1001 或 1012，而不是 1006。",
            ],
        },
        notes_en: "Spring reports it as CloseStatus.NO_CLOSE_FRAME: behind nginx with a short \
                   proxy_read_timeout, a Spring STOMP server's SessionDisconnectEvent shows \
                   status 1006 once nginx closes the idle tunnel. The side that reports 1006 \
                   only knows that no Close frame arrived: to find who cut the connection, \
                   compare both sides' logs and the proxies' logs at the same timestamp.",
        notes_zh: "Spring 中对应 CloseStatus.NO_CLOSE_FRAME：在 proxy_read_timeout 较短的 nginx \
                   后面，nginx 关闭空闲隧道后，Spring STOMP 服务端的 SessionDisconnectEvent 显示\
                   状态为 1006。报告 1006 的一方只\
                   知道没有收到 Close 帧；要找出是谁切断了连接，需要对照同一时间点两端以及各级\
                   代理的日志。",
    },
    Entry {
        lo: 1007,
        hi: 1007,
        name: "Invalid Frame Payload Data",
        constant: "CLOSE_INVALID_PAYLOAD",
        sender: Sender::Either,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "The endpoint received data inconsistent with the type of the message. The \
                      RFC's example is non-UTF-8 data inside a text message.",
            causes: &[
                "A text frame carried bytes that are not valid UTF-8: GBK, GB2312 or Latin-1 \
                 encoded strings, or raw binary sent as text.",
                "Application-level chunking split a text message in the middle of a multi-byte \
                 character.",
                "A STOMP body in a non-UTF-8 charset (content-type:text/plain;charset=gbk) was \
                 sent in a text WebSocket frame.",
            ],
            fixes: &[
                "Use UTF-8 end to end for text frames; convert legacy encodings before sending.",
                "Send binary data in binary frames, or base64-encode it when the transport is \
                 text-only (SockJS).",
                "Split long text on character boundaries, not byte offsets.",
            ],
        },
        zh: Text {
            meaning: "端点收到的数据与消息类型不一致。RFC 的例子是文本消息中含有非 UTF-8 数据。",
            causes: &[
                "文本帧中的字节不是合法的 UTF-8：GBK、GB2312 或 Latin-1 编码的字符串，或者把原始\
                 二进制当作文本发送。",
                "应用层分片时把一个文本消息从多字节字符的中间切开了。",
                "STOMP 消息体使用了非 UTF-8 字符集（content-type:text/plain;charset=gbk），\
                 却通过 WebSocket 文本帧发送。",
            ],
            fixes: &[
                "文本帧全链路使用 UTF-8；旧编码的数据在发送前先转码。",
                "二进制数据用二进制帧发送；传输层只支持文本时（SockJS）先做 base64 编码。",
                "拆分长文本时按字符边界切分，而不是按字节偏移。",
            ],
        },
        notes_en: "",
        notes_zh: "",
    },
    Entry {
        lo: 1008,
        hi: 1008,
        name: "Policy Violation",
        constant: "CLOSE_POLICY_VIOLATION",
        sender: Sender::Either,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "The endpoint received a message that violates its policy. It is the \
                      generic code for when no other fits (1003 and 1009 are more specific) or \
                      when the details should stay hidden.",
            causes: &[
                "Authentication failed or expired: a missing or invalid token at CONNECT, or a \
                 JWT that expired during a long session.",
                "Authorization: the user tried to SUBSCRIBE or SEND to a destination its access \
                 rules do not allow.",
                "The Origin is not on the server's allow-list (when the check happens after the \
                 upgrade; a check during the handshake yields HTTP 403, which browsers show as \
                 1006).",
                "Rate limits or quotas: too many messages, subscriptions or connections for one \
                 user.",
            ],
            fixes: &[
                "Read the reason string and the server log for the session: 1008 is deliberately \
                 vague on the wire.",
                "Refresh credentials before they expire and reconnect with the new token.",
                "Add the page's origin to the endpoint's allowed origins.",
                "Do not reconnect in a tight loop on 1008: back off and show the user what is \
                 wrong, or the same rejection repeats forever.",
            ],
        },
        zh: Text {
            meaning: "端点收到了违反其策略的消息。这是通用状态码：没有更合适的状态码时（1003 和 \
                      1009 更具体），或者需要隐藏具体细节时使用。",
            causes: &[
                "认证失败或过期：CONNECT 时缺少令牌或令牌无效，或者长连接期间 JWT 过期。",
                "授权问题：用户对访问规则不允许的目的地执行了 SUBSCRIBE 或 SEND。",
                "Origin 不在服务端的允许列表中（如果在升级之后才检查；如果在握手时检查，会返回 \
                 HTTP 403，浏览器里看到的是 1006）。",
                "限流或配额：单个用户的消息、订阅或连接数过多。",
            ],
            fixes: &[
                "查看 reason 字符串以及服务端关于该会话的日志：1008 在线路上故意说得很含糊。",
                "在凭证过期前刷新，并用新令牌重新连接。",
                "把页面的来源（origin）加入端点允许的来源列表。",
                "收到 1008 时不要紧密循环重连：应退避并告诉用户问题所在，否则同样的拒绝会无限\
                 重复。",
            ],
        },
        notes_en: "Browser scripts cannot send 1008 (close() accepts only 1000 and 3000–4999); \
                   browser clients that want to signal a policy problem use 4000–4999.",
        notes_zh: "浏览器脚本无法发送 1008（close() 只接受 1000 和 3000–4999）；浏览器客户端想\
                   表达策略问题时应使用 4000–4999。",
    },
    Entry {
        lo: 1009,
        hi: 1009,
        name: "Message Too Big",
        constant: "CLOSE_TOO_LARGE",
        sender: Sender::Either,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "The endpoint received a message too big for it to process. The side that \
                      sends 1009 is the one whose limit was exceeded.",
            causes: &[
                "Spring STOMP's inbound message size limit, 64 KiB by default \
                 (WebSocketTransportRegistration.setMessageSizeLimit).",
                "The servlet container's buffer: Tomcat's text and binary message buffers are \
                 8 KiB by default, and a bigger message to an endpoint without partial-message \
                 support closes the session with 1009 (\"The decoded text message was too big \
                 for the output buffer and the endpoint does not support partial messages\").",
                "Library defaults elsewhere: tungstenite max_message_size 64 MiB, Node ws \
                 maxPayload 100 MiB, or stompbox's configured frame size limit.",
                "One huge STOMP frame: an uploaded file, a base64 image, or an unbounded query \
                 result pushed to a topic.",
            ],
            fixes: &[
                "Find the side that closed (it sent the 1009) and raise its limit if the size is \
                 legitimate — for Spring, both setMessageSizeLimit and the container's maximum \
                 text/binary message buffer size.",
                "Otherwise make messages smaller: paginate, send a reference (URL or id) and \
                 fetch the data over HTTP, compress, or split the data into several messages.",
            ],
        },
        zh: Text {
            meaning: "端点收到的消息太大，无法处理。发送 1009 的一方就是限制被超出的那一方。",
            causes: &[
                "Spring STOMP 的入站消息大小限制，默认 64 KiB\
                 （WebSocketTransportRegistration.setMessageSizeLimit）。",
                "Servlet 容器的缓冲区：Tomcat 的文本和二进制消息缓冲区默认 8 KiB，端点不支持部分\
                 消息时，更大的消息会让会话以 1009 关闭（\"The decoded text message was too big \
                 for the output buffer and the endpoint does not support partial messages\"）。",
                "其他库的默认值：tungstenite 的 max_message_size 为 64 MiB，Node ws 的 \
                 maxPayload 为 100 MiB，或者 stompbox 配置的帧大小上限。",
                "单个巨大的 STOMP 帧：上传的文件、base64 图片，或推送到主题的无上限查询结果。",
            ],
            fixes: &[
                "确认是哪一端关闭的（发送 1009 的那一端），如果消息大小合理，就调大它的限制——\
                 Spring 需要同时调整 setMessageSizeLimit 和容器的最大文本/二进制消息缓冲区。",
                "否则就把消息变小：分页、只发送引用（URL 或 id）再通过 HTTP 获取数据、压缩，或者\
                 拆成多条消息。",
            ],
        },
        notes_en: "",
        notes_zh: "",
    },
    Entry {
        lo: 1010,
        hi: 1010,
        name: "Mandatory Extension",
        constant: "CLOSE_MANDATORY_EXTENSION",
        sender: Sender::Client,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "The client closed: the server did not negotiate an extension it requires. \
                      The reason should list the missing extensions. A server \
                      never sends 1010: it can fail the handshake instead.",
            causes: &[
                "A non-browser client insists on an extension (usually permessage-deflate) that \
                 the server has disabled.",
                "A proxy removed the Sec-WebSocket-Extensions header from the request or the \
                 response.",
            ],
            fixes: &[
                "Enable the extension on the server, or make it optional in the client's \
                 configuration.",
                "Check that every proxy forwards Sec-WebSocket-Extensions unchanged.",
            ],
        },
        zh: Text {
            meaning: "客户端主动关闭，因为服务端没有协商它要求的扩展。reason 中应列出缺少的扩展。\
                      服务端不会发送 1010：它可以直接让握手失败。",
            causes: &[
                "非浏览器客户端强制要求某个扩展（通常是 permessage-deflate），而服务端禁用了它。",
                "代理从请求或响应中删除了 Sec-WebSocket-Extensions 头。",
            ],
            fixes: &[
                "在服务端启用该扩展，或者在客户端配置中把它设为可选。",
                "确认每一级代理都原样转发 Sec-WebSocket-Extensions。",
            ],
        },
        notes_en: "Browsers never send 1010; they use whatever extensions the server accepted.",
        notes_zh: "浏览器从不发送 1010，它们只使用服务端接受的扩展。",
    },
    Entry {
        lo: 1011,
        hi: 1011,
        name: "Internal Error",
        constant: "CLOSE_INTERNAL_ERROR",
        sender: Sender::Server,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "The server hit an unexpected condition and could not fulfil the request. \
                      The WebSocket counterpart of HTTP 500.",
            causes: &[
                "An unhandled exception in a message handler or in the STOMP or SockJS layer.",
                "A dependency failed: a database, a cache, or the upstream broker of a broker \
                 relay (RabbitMQ, ActiveMQ) went away.",
                "Resource exhaustion: out of memory, out of file descriptors, thread pool \
                 rejections.",
                "Spring's SockJS layer closes with CloseStatus.SERVER_ERROR when writing to an \
                 HTTP transport fails.",
            ],
            fixes: &[
                "Look at the server log for the session id at the time of the close: with 1011 \
                 the details are always on the server.",
                "If the server sent a STOMP ERROR frame before closing, its message header and \
                 body carry the explanation.",
                "Let clients reconnect with backoff; a 1011 again right after every reconnect \
                 points at a deterministic bug, not a blip.",
            ],
        },
        zh: Text {
            meaning: "服务端遇到了意外情况，无法完成请求。相当于 WebSocket 版的 HTTP 500。",
            causes: &[
                "消息处理器或 STOMP、SockJS 层抛出了未处理的异常。",
                "依赖出了问题：数据库、缓存，或者 broker relay 的上游消息代理（RabbitMQ、\
                 ActiveMQ）断开了。",
                "资源耗尽：内存不足、文件描述符用尽、线程池拒绝任务。",
                "Spring 的 SockJS 层在写入 HTTP 传输失败时以 CloseStatus.SERVER_ERROR 关闭。",
            ],
            fixes: &[
                "按会话 id 查看关闭时间点的服务端日志：1011 的详细信息一定在服务端。",
                "如果服务端在关闭前发送了 STOMP ERROR 帧，它的 message 头和消息体会说明原因。",
                "客户端应退避重连；如果每次重连后都立刻再收到 1011，说明是必现的 bug，而不是偶发\
                 抖动。",
            ],
        },
        notes_en: "RFC 6455 describes 1011 as sent by a server; some non-browser clients use it \
                   for their own internal errors as well.",
        notes_zh: "RFC 6455 把 1011 描述为由服务端发送；个别非浏览器客户端也会用它表示自身的\
                   内部错误。",
    },
    Entry {
        lo: 1012,
        hi: 1012,
        name: "Service Restart",
        constant: "CLOSE_SERVICE_RESTART",
        sender: Sender::Server,
        sources: &[Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "The server is restarting. Registered with IANA after RFC 6455: a client may \
                      reconnect, and if it does it should wait a random 5–30 seconds first.",
            causes: &[
                "A planned restart or rolling deploy in which the server announces the restart \
                 instead of just dropping connections.",
                "A configuration reload that requires sessions to be established again.",
            ],
            fixes: &[
                "Reconnect after a random delay of 5–30 s so that the restarted instances are not \
                 hit by every client at once.",
                "Servers: during deploys send 1012 rather than silently dropping connections \
                 (which clients see as 1006).",
            ],
        },
        zh: Text {
            meaning: "服务端正在重启。这是 RFC 6455 之后在 IANA 注册的状态码：客户端可以重连，\
                      如果重连，应先随机等待 5–30 秒。",
            causes: &[
                "计划内的重启或滚动发布，服务端主动通知重启，而不是直接断开连接。",
                "需要重新建立会话的配置重载。",
            ],
            fixes: &[
                "随机延迟 5–30 秒后重连，避免所有客户端同时涌向刚重启的实例。",
                "服务端：发布时发送 1012，而不是悄无声息地断开连接（客户端会看到 1006）。",
            ],
        },
        notes_en: "Not defined by RFC 6455 itself, so old libraries may reject it as reserved \
                   (Node ws began accepting 1012 and 1013 in 2016). Spring names it \
                   CloseStatus.SERVICE_RESTARTED.",
        notes_zh: "RFC 6455 本身没有定义它，因此老版本的库可能把它当作保留码拒绝（Node ws 从 \
                   2016 年起才接受 1012 和 1013）。Spring 中对应 CloseStatus.SERVICE_RESTARTED。",
    },
    Entry {
        lo: 1013,
        hi: 1013,
        name: "Try Again Later",
        constant: "CLOSE_TRY_AGAIN_LATER",
        sender: Sender::Server,
        sources: &[Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "The server is overloaded or in a temporary condition and refuses for now. \
                      Registered with IANA after RFC 6455; the client should connect to another \
                      address or retry later.",
            causes: &[
                "The server or instance reached its connection limit, or sheds load under CPU or \
                 memory pressure.",
                "A maintenance window, or a dependency that is temporarily unavailable.",
                "Rate limiting of new connections per client or per IP address.",
            ],
            fixes: &[
                "Retry with exponential backoff and jitter, or try another instance when there \
                 are several addresses.",
                "Server side: check the connection limits (maximum connections, ulimit -n) and \
                 scale out if 1013 is frequent.",
            ],
        },
        zh: Text {
            meaning: "服务端过载或处于临时状态，暂时拒绝服务。这是 RFC 6455 之后在 IANA 注册的\
                      状态码；客户端应连接其他地址或稍后重试。",
            causes: &[
                "服务端或实例达到了连接数上限，或在 CPU、内存压力下主动减载。",
                "处于维护窗口，或某个依赖暂时不可用。",
                "按客户端或 IP 地址对新建连接限流。",
            ],
            fixes: &[
                "按指数退避加随机抖动重试；如果有多个地址，尝试其他实例。",
                "服务端：检查连接数上限（最大连接数、ulimit -n），如果频繁出现 1013 就需要扩容。",
            ],
        },
        notes_en: "Spring names it CloseStatus.SERVICE_OVERLOAD.",
        notes_zh: "Spring 中对应 CloseStatus.SERVICE_OVERLOAD。",
    },
    Entry {
        lo: 1014,
        hi: 1014,
        name: "Bad Gateway",
        constant: "CLOSE_BAD_GATEWAY",
        sender: Sender::Server,
        sources: &[Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "A server acting as a gateway or proxy got an invalid response upstream. \
                      The WebSocket counterpart of HTTP 502.",
            causes: &[
                "A WebSocket-aware gateway (API gateway, service mesh sidecar, message relay) \
                 lost its upstream connection or received garbage from it.",
                "The backend crashed or restarted while the gateway kept the client side open.",
            ],
            fixes: &[
                "Check the gateway's upstream health and logs, then the backend's logs at the \
                 same timestamp.",
                "Reconnect with backoff; a healthy upstream fixes it.",
                "If a client built on tungstenite reports 1002 \"Protocol violation\" where you \
                 expected 1014, that is tungstenite rejecting 1014 (see the notes).",
            ],
        },
        zh: Text {
            meaning: "充当网关或代理的服务端从上游收到了无效响应。相当于 WebSocket 版的 HTTP \
                      502。",
            causes: &[
                "支持 WebSocket 的网关（API 网关、服务网格 sidecar、消息中继）与上游的连接断开，\
                 或从上游收到了无法解析的数据。",
                "后端崩溃或重启，而网关仍保持着与客户端的连接。",
            ],
            fixes: &[
                "检查网关的上游健康状况和日志，再查看同一时间点后端的日志。",
                "退避重连；上游恢复正常后问题即可消失。",
                "如果基于 tungstenite 的客户端在本应是 1014 的地方报告了 1002 \"Protocol \
                 violation\"，那是 tungstenite 拒绝了 1014（见备注）。",
            ],
        },
        notes_en: "Older close-code tables — older copies of MDN and the blog posts that \
                   copied them, such as the widely shared Chinese write-up on reproducing 1006 \
                   behind nginx — list 1014 as reserved for future use. IANA has since assigned \
                   it \"Bad Gateway\", and Netty and Node ws accept it. tungstenite 0.29 (the version stompbox uses) still \
                   treats 1014 as invalid: it answers a Close carrying 1014 with 1002 \"Protocol \
                   violation\" and hands 1002 to the application.",
        notes_zh: "较早的关闭码表格——旧版 MDN 以及转抄它的博客文章，例如流传很广的那篇\
                   “在 nginx 后面复现 1006”的中文文章——把 1014 列为“保留给未来使用”。IANA \
                   后来已把它分配为 \"Bad Gateway\"，Netty 和 Node ws 都接受它。tungstenite \
                   0.30 仍把 1014 视为非法：收到携带 1014 的 Close 帧时会以 1002 \"Protocol \
                   violation\" 回应，并把 1002 交给应用。",
    },
    Entry {
        lo: 1015,
        hi: 1015,
        name: "TLS Handshake",
        constant: "CLOSE_TLS_HANDSHAKE",
        sender: Sender::Never,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: false,
        en: Text {
            meaning: "The connection was closed because the TLS handshake failed. Reserved: it \
                      is never sent; an endpoint reports 1015 locally, for example when the \
                      server certificate cannot be verified.",
            causes: &[
                "A self-signed, expired or not-yet-valid certificate, or one that does not match \
                 the host name.",
                "The server does not send its intermediate certificates, so clients that lack \
                 them cannot build the chain.",
                "No common TLS version or cipher suite; a client clock far off; a corporate \
                 TLS-inspecting proxy whose root certificate is not trusted.",
            ],
            fixes: &[
                "Inspect the chain with openssl s_client -connect host:443 -servername host and \
                 fix what it reports.",
                "Serve the full chain and a certificate valid for the host name the client uses.",
                "Look in the browser console: browsers usually report TLS failures as 1006 and \
                 print the real error there; some non-browser clients expose 1015.",
            ],
        },
        zh: Text {
            meaning: "因为 TLS 握手失败而关闭了连接。保留码，永远不会被发送；端点在本地报告 \
                      1015，例如无法验证服务端证书时。",
            causes: &[
                "证书是自签名的、已过期或尚未生效，或者与主机名不匹配。",
                "服务端没有发送中间证书，缺少这些证书的客户端无法构建证书链。",
                "双方没有共同的 TLS 版本或密码套件；客户端时钟偏差太大；企业内部做 TLS 解密的\
                 代理，其根证书不受信任。",
            ],
            fixes: &[
                "用 openssl s_client -connect host:443 -servername host 检查证书链，并修复它\
                 报告的问题。",
                "部署完整的证书链，并确保证书对客户端使用的主机名有效。",
                "查看浏览器控制台：浏览器通常把 TLS 失败报告为 1006，真正的错误打印在控制台里；\
                 部分非浏览器客户端会给出 1015。",
            ],
        },
        notes_en: "",
        notes_zh: "",
    },
    Entry {
        lo: 1016,
        hi: 1999,
        name: "Reserved for future standards",
        constant: "CLOSE_RESERVED_STANDARD",
        sender: Sender::Never,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: false,
        en: Text {
            meaning: "Reserved for future revisions of the WebSocket protocol; none is assigned. \
                      An endpoint must not send them, and a strict peer fails the connection \
                      with 1002 when it receives one.",
            causes: &[
                "An application invented its own code in this range instead of 4000–4999.",
                "A typo for a standard code (1101 instead of 1011).",
            ],
            fixes: &[
                "Move custom codes to 4000–4999 (applications) or register one in 3000–3999 \
                 (libraries).",
                "Check the IANA registry in case a code was assigned after this table was \
                 written.",
            ],
        },
        zh: Text {
            meaning: "保留给 WebSocket 协议未来的修订版本，目前都没有分配。端点不得发送，严格的\
                      对端收到后会以 1002 断开连接。",
            causes: &[
                "应用在这个区间自创了状态码，而没有使用 4000–4999。",
                "本想写某个标准码时的笔误（把 1011 写成了 1101）。",
            ],
            fixes: &[
                "把自定义状态码挪到 4000–4999（应用），或在 3000–3999 注册一个（库）。",
                "查一下 IANA 注册表，确认本表编写之后没有新分配的状态码。",
            ],
        },
        notes_en: "",
        notes_zh: "",
    },
    Entry {
        lo: 2000,
        hi: 2999,
        name: "Reserved for extensions",
        constant: "CLOSE_RESERVED_EXTENSION",
        sender: Sender::Never,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: false,
        en: Text {
            meaning: "Reserved for WebSocket extensions; no extension has registered any. \
                      Endpoints must not send them in a Close frame. SockJS uses 2000, 2007 and \
                      2010 internally, but only in SockJS `c` frames or client-side close \
                      events, never in a WebSocket Close frame.",
            causes: &[
                "sockjs-client close events (2000 All transports failed, 2007 Transport timed \
                 out) or a SockJS server's c[2010,...] frame.",
                "An application picked a code in this range for its own use.",
            ],
            fixes: &[
                "For the SockJS codes, see their own entries.",
                "Move application codes to 4000–4999.",
            ],
        },
        zh: Text {
            meaning: "保留给 WebSocket 扩展，目前没有任何扩展注册过。端点不得在 Close 帧中发送。\
                      SockJS 内部使用了 2000、2007 和 2010，但它们只出现在 SockJS 的 `c` 帧或\
                      客户端的关闭事件中，不会出现在 WebSocket Close 帧里。",
            causes: &[
                "sockjs-client 的关闭事件（2000 All transports failed、2007 Transport timed \
                 out），或 SockJS 服务端发出的 c[2010,...] 帧。",
                "应用在这个区间自定义了状态码。",
            ],
            fixes: &[
                "SockJS 的状态码请查看各自的条目。",
                "把应用自定义的状态码挪到 4000–4999。",
            ],
        },
        notes_en: "",
        notes_zh: "",
    },
    Entry {
        lo: 2000,
        hi: 2000,
        name: "All transports failed",
        constant: "SOCKJS_ALL_TRANSPORTS_FAILED",
        sender: Sender::Never,
        sources: &[Source::SockJs],
        on_wire: false,
        en: Text {
            meaning: "sockjs-client gave up: every enabled transport failed to open. The client \
                      sets it locally after trying WebSocket, the streaming transports and the \
                      polling transports in turn; it never travels on the wire.",
            causes: &[
                "WebSocket upgrades are blocked (a proxy without the Upgrade and Connection \
                 headers, a corporate proxy) and the HTTP fallbacks fail too.",
                "A proxy buffers the streaming responses (nginx's proxy_buffering is on by \
                 default), so the `o` open frame never arrives in time and every transport \
                 times out.",
                "The `transports` option allows only transports the server has disabled, or \
                 /info says websocket:false while the fallbacks are turned off.",
                "Cross-origin fallbacks fail on CORS or cookies (withCredentials), or sticky \
                 sessions are missing behind a load balancer.",
            ],
            fixes: &[
                "Open devtools and look at the requests under <url>/<server>/<session>/: each \
                 transport's request shows why it failed.",
                "Turn on sockjs-client's debug output (localStorage.debug = 'sockjs-client:*') \
                 to see every attempt and its close code.",
                "Set proxy_buffering off (and a long proxy_read_timeout) on the SockJS path, and \
                 pass the WebSocket upgrade headers.",
                "Use sticky sessions for SockJS HTTP transports behind a load balancer: every \
                 request of one session must reach the same server.",
            ],
        },
        zh: Text {
            meaning: "sockjs-client 放弃了：所有启用的传输方式都无法建立连接。这是客户端依次尝试 \
                      WebSocket、流式传输和轮询传输都失败后在本地设置的，从不出现在线路上。",
            causes: &[
                "WebSocket 升级被阻断（代理没有转发 Upgrade 和 Connection 头、企业代理），HTTP \
                 降级传输也失败了。",
                "代理缓冲了流式响应（nginx 的 proxy_buffering 默认开启），`o` 打开帧迟迟到不了，\
                 每种传输都超时。",
                "`transports` 选项只允许了服务端已禁用的传输方式，或者 /info 返回 \
                 websocket:false 而降级传输又被关闭了。",
                "跨域降级传输因 CORS 或 Cookie（withCredentials）失败，或者负载均衡后面缺少会话\
                 粘滞。",
            ],
            fixes: &[
                "打开开发者工具，查看 <url>/<server>/<session>/ 下的请求：每种传输的请求都能看出\
                 失败原因。",
                "打开 sockjs-client 的调试输出（localStorage.debug = 'sockjs-client:*'），\
                 查看每次尝试及其关闭码。",
                "对 SockJS 路径设置 proxy_buffering off（以及较长的 proxy_read_timeout），并转发 \
                 WebSocket 升级头。",
                "负载均衡后面的 SockJS HTTP 传输需要会话粘滞：同一会话的所有请求必须到达同一台\
                 服务器。",
            ],
        },
        notes_en: "While connecting, sockjs-client does not report a transport's close whose \
                   code is neither 1000 nor 3000–4999 (for example 1006 or 2007): it quietly \
                   tries the next transport. Only when none is left does the application see \
                   2000.",
        notes_zh: "在连接阶段，如果某个传输关闭时的状态码既不是 1000 也不在 3000–4999\
                   （例如 1006 或 2007），sockjs-client 不会上报，而是悄悄尝试下一个传输。只有\
                   全部失败后，应用才会看到 2000。",
    },
    Entry {
        lo: 2007,
        hi: 2007,
        name: "Transport timed out",
        constant: "SOCKJS_TRANSPORT_TIMEOUT",
        sender: Sender::Never,
        sources: &[Source::SockJs],
        on_wire: false,
        en: Text {
            meaning: "sockjs-client: a transport did not open in time. The timeout comes from the \
                      /info round-trip time (never less than the `timeout` option); the client \
                      then tries the next transport, so applications normally see 2000 rather \
                      than 2007.",
            causes: &[
                "Proxy buffering holds back the `o` frame of a streaming transport.",
                "A slow or lossy network, or an overloaded server, answered after the computed \
                 timeout.",
                "A WebSocket upgrade request hangs in a proxy instead of failing fast.",
            ],
            fixes: &[
                "Disable proxy buffering on the SockJS path.",
                "Raise the minimum on slow networks: new SockJS(url, null, { timeout: 10000 }).",
                "Watch for it in sockjs-client's debug output; it is rarely visible anywhere \
                 else.",
            ],
        },
        zh: Text {
            meaning: "sockjs-client：某个传输没能及时建立。超时时间根据 /info 请求的往返时间计算\
                      （不小于 `timeout` 选项）；超时后客户端会尝试下一个传输，因此应用通常看到的\
                      是 2000 而不是 2007。",
            causes: &[
                "代理缓冲扣住了流式传输的 `o` 帧。",
                "网络慢或丢包，或者服务端过载，响应晚于计算出的超时时间。",
                "WebSocket 升级请求卡在代理里，而不是快速失败。",
            ],
            fixes: &[
                "对 SockJS 路径关闭代理缓冲。",
                "网络较慢时提高超时下限：new SockJS(url, null, { timeout: 10000 })。",
                "在 sockjs-client 的调试输出中观察它；其他地方很少能看到。",
            ],
        },
        notes_en: "",
        notes_zh: "",
    },
    Entry {
        lo: 2010,
        hi: 2010,
        name: "Another connection still open",
        constant: "SOCKJS_ANOTHER_CONNECTION",
        sender: Sender::Server,
        sources: &[Source::SockJs],
        on_wire: false,
        en: Text {
            meaning: "A SockJS server refused a second receiving request for the same session. \
                      The session already has one receiving request open. It is sent inside a \
                      SockJS close frame on the HTTP transports, c[2010,\"Another connection \
                      still open\"], and is never a WebSocket Close code.",
            causes: &[
                "The previous xhr-streaming or xhr-polling request is still open on the server, \
                 because a proxy kept the upstream request alive after the client gave up on \
                 it.",
                "The browser retried a polling request while the first one was stalled (HTTP/1.1 \
                 allows only about 6 connections per host, and other tabs or requests may hold \
                 them).",
                "A custom client reused a session URL from another tab or page.",
            ],
            fixes: &[
                "Make proxies pass client aborts upstream (nginx: keep proxy_ignore_client_abort \
                 off, the default) and keep their timeouts longer than the SockJS heartbeat.",
                "Prefer the WebSocket transport; serve the page over HTTP/2 to lift the \
                 per-host connection limit.",
                "Never share a SockJS session id between tabs; let sockjs-client generate it.",
            ],
        },
        zh: Text {
            meaning: "SockJS 服务端拒绝了同一会话的第二个接收请求，因为该会话已经有一个了。它出现\
                      在 HTTP 传输的 SockJS 关闭帧 c[2010,\"Another connection still open\"] 中，\
                      从来不是 WebSocket 的 Close 状态码。",
            causes: &[
                "上一个 xhr-streaming 或 xhr-polling 请求在服务端仍然是打开的，因为客户端放弃之后\
                 代理仍让上游请求保持着。",
                "第一个轮询请求卡住时浏览器又发起了重试（HTTP/1.1 下每个主机大约只允许 6 个连接，\
                 其他标签页或请求可能占满了它们）。",
                "自定义客户端复用了其他标签页或页面的会话 URL。",
            ],
            fixes: &[
                "让代理把客户端中止传递给上游（nginx：保持 proxy_ignore_client_abort 为默认的 \
                 off），并让代理超时长于 SockJS 心跳间隔。",
                "优先使用 WebSocket 传输；用 HTTP/2 提供页面，以解除每个主机的连接数限制。",
                "不要在标签页之间共享 SockJS 会话 id，交给 sockjs-client 生成。",
            ],
        },
        notes_en: "In the sockjs-protocol tests the first request keeps the session and only the \
                   second one receives 2010.",
        notes_zh: "按 sockjs-protocol 的测试用例，第一个请求保留会话，只有第二个请求收到 2010。",
    },
    Entry {
        lo: 3000,
        hi: 3999,
        name: "Libraries and frameworks",
        constant: "CLOSE_LIBRARY",
        sender: Sender::Either,
        sources: &[Source::Rfc6455, Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "Library and framework codes, registered with IANA first-come first-served. \
                      RFC 6455 does not define their meanings; the registrant does. IANA lists \
                      only 3000 Unauthorized, 3003 Forbidden and 3008 Timeout so far, but \
                      libraries use many unregistered codes here.",
            causes: &[
                "A library or framework on one side closed with its own code; SockJS's 3000 \
                 \"Go away!\" is the most common.",
                "An application picked an unregistered code here; RFC 6455 allows libraries, \
                 frameworks and applications in this range but expects registration, so private \
                 codes belong in 4000–4999.",
            ],
            fixes: &[
                "Identify the library on the side that sent the code and read its documentation; \
                 the reason string often names it.",
                "Check the IANA registry for a registered meaning.",
                "Use 4000–4999 for your own application codes.",
            ],
        },
        zh: Text {
            meaning: "供库和框架使用的状态码，按先到先得的方式向 IANA 注册。RFC 6455 不定义其\
                      含义，由注册者定义。目前 IANA 只登记了 3000 Unauthorized、3003 Forbidden \
                      和 3008 Timeout，但各种库在这里使用了很多未注册的状态码。",
            causes: &[
                "某一端的库或框架用自己的状态码关闭了连接；最常见的是 SockJS 的 3000 \
                 \"Go away!\"。",
                "应用在这里选了一个未注册的状态码；RFC 6455 允许库、框架和应用使用这个区间，但\
                 要求注册，私有状态码应放在 4000–4999。",
            ],
            fixes: &[
                "找出发送该状态码一端所用的库并查阅其文档；reason 字符串通常会说明。",
                "查询 IANA 注册表，看是否有已登记的含义。",
                "应用自己的状态码请使用 4000–4999。",
            ],
        },
        notes_en: "",
        notes_zh: "",
    },
    Entry {
        lo: 3000,
        hi: 3000,
        name: "Go away! / Unauthorized",
        constant: "SOCKJS_GO_AWAY",
        sender: Sender::Server,
        sources: &[Source::Iana, Source::SockJs],
        on_wire: true,
        en: Text {
            meaning: "SockJS \"Go away!\" (the server closed the session) or IANA \
                      \"Unauthorized\". In SockJS it is the default close of a server-side \
                      session (Spring's SockJS \
                      session close() and Python servers such as sockjs for aiohttp send \
                      c[3000,\"Go away!\"]), and a session that is already closed answers every \
                      later request with the same frame. In the IANA registry 3000 means \
                      Unauthorized: the endpoint \
                      refuses to continue because the peer is not authenticated, like HTTP 401.",
            causes: &[
                "The server-side application closed the SockJS session, for example after a \
                 logout, a kick or a failed check, without choosing another code.",
                "A request arrived for a session the server had already closed (a polling \
                 request after the close, or a reconnect that reused the old session URL).",
                "A server following the IANA registration rejected a missing, invalid or expired \
                 credential with 3000 Unauthorized.",
            ],
            fixes: &[
                "Look in the server log for who closed the session and why; the SockJS reason is \
                 always the fixed text \"Go away!\", so it carries no detail.",
                "Do not reuse the session: open a new SockJS connection (every new SockJS(url) \
                 starts a new session).",
                "If it means Unauthorized, get fresh credentials before reconnecting instead of \
                 retrying the same token.",
                "Servers: close with a more specific code (1008, or 4000–4999 such as 4401 or \
                 4403) when clients should tell the reasons apart.",
            ],
        },
        zh: Text {
            meaning: "SockJS 的 \"Go away!\"（服务端关闭了会话），或 IANA 的 \"Unauthorized\"。\
                      在 SockJS 中，它是服务端会话的默认关闭方式（Spring 的 SockJS 会话 close() \
                      以及 Python 版 SockJS 服务端会发送 c[3000,\"Go away!\"]），已经关闭的会话\
                      对之后的每个请求也都回复同样的帧。在 IANA 注册表中，3000 表示 \
                      Unauthorized：对端未通过认证，端点拒绝继续，类似 HTTP 401。",
            causes: &[
                "服务端应用关闭了 SockJS 会话，例如用户登出、被踢下线或某项检查失败，且没有指定\
                 其他状态码。",
                "请求到达时服务端已经关闭了该会话（关闭之后的轮询请求，或重连时复用了旧的会话 \
                 URL）。",
                "遵循 IANA 注册含义的服务端，用 3000 Unauthorized 拒绝了缺失、无效或过期的凭证。",
            ],
            fixes: &[
                "查看服务端日志，确认是谁、因为什么关闭了会话；SockJS 的 reason 固定为 \
                 \"Go away!\"，不包含任何细节。",
                "不要复用该会话：新建一个 SockJS 连接（每次 new SockJS(url) 都会开始新会话）。",
                "如果含义是 Unauthorized，重连前先获取新的凭证，而不是拿同一个令牌重试。",
                "服务端：如果希望客户端能区分原因，请使用更具体的状态码（1008，或 4000–4999 中\
                 的 4401、4403 之类）。",
            ],
        },
        notes_en: "SockJS used 3000 before IANA registered it as Unauthorized; to tell them \
                   apart, look at the reason (\"Go away!\") and at whether SockJS is in use. \
                   3000 is one of the codes browsers let scripts send with close().",
        notes_zh: "SockJS 在 IANA 把 3000 登记为 Unauthorized 之前就在使用它；要区分两者，看 \
                   reason 是否为 \"Go away!\" 以及是否使用了 SockJS。3000 是浏览器允许脚本通过 \
                   close() 发送的状态码之一。",
    },
    Entry {
        lo: 3003,
        hi: 3003,
        name: "Forbidden",
        constant: "CLOSE_FORBIDDEN",
        sender: Sender::Server,
        sources: &[Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "IANA-registered: the peer is authenticated but not allowed to do what it \
                      asked. The WebSocket counterpart of HTTP 403.",
            causes: &[
                "The user lacks the role or permission for the endpoint, topic or action.",
                "An account was disabled or a tenant suspended while connected.",
            ],
            fixes: &[
                "Do not retry with the same identity; show the user an access error.",
                "Check the server's authorization rules and the reason string for the denied \
                 resource.",
            ],
        },
        zh: Text {
            meaning: "IANA 已登记：对端已通过认证，但无权执行所请求的操作。相当于 WebSocket 版的 \
                      HTTP 403。",
            causes: &[
                "用户缺少访问该端点、主题或操作所需的角色或权限。",
                "连接期间账号被禁用或租户被停用。",
            ],
            fixes: &[
                "不要用同一身份重试；向用户提示无权访问。",
                "检查服务端的授权规则，以及 reason 字符串中被拒绝的资源。",
            ],
        },
        notes_en: "The IANA registry gives little beyond the name; the meaning here follows the \
                   HTTP status the number mirrors. Servers and clients that rely on it should \
                   document it.",
        notes_zh: "IANA 注册表除名称外几乎没有更多说明；这里的含义参照了与之对应的 HTTP 状态码。\
                   依赖它的服务端和客户端应当在文档中写明。",
    },
    Entry {
        lo: 3008,
        hi: 3008,
        name: "Timeout",
        constant: "CLOSE_TIMEOUT",
        sender: Sender::Server,
        sources: &[Source::Iana],
        on_wire: true,
        en: Text {
            meaning: "IANA-registered: the endpoint timed out waiting for the peer. The WebSocket \
                      counterpart of HTTP 408.",
            causes: &[
                "The peer did not authenticate or send its first message within the allowed \
                 time after connecting.",
                "An application-level ping or request got no answer in time.",
            ],
            fixes: &[
                "Make the client send its first message (STOMP CONNECT) right after the socket \
                 opens, and answer pings promptly.",
                "Look for a blocked event loop or a throttled background tab on the client, then \
                 reconnect.",
            ],
        },
        zh: Text {
            meaning: "IANA 已登记：端点等待对端超时。相当于 WebSocket 版的 HTTP 408。",
            causes: &[
                "对端在连接后规定的时间内没有完成认证或发送第一条消息。",
                "应用层的 ping 或请求没有及时得到回应。",
            ],
            fixes: &[
                "让客户端在连接打开后立即发送第一条消息（STOMP CONNECT），并及时响应 ping。",
                "检查客户端是否有事件循环阻塞或后台标签页定时器被节流，然后重连。",
            ],
        },
        notes_en: "As with 3003, the registry gives only the name; the meaning follows HTTP 408. \
                   stompbox reports STOMP heart-beat timeouts with 4408 instead.",
        notes_zh: "与 3003 一样，注册表只给出了名称，这里的含义参照 HTTP 408。stompbox 对 STOMP \
                   心跳超时使用的是 4408。",
    },
    Entry {
        lo: 4000,
        hi: 4999,
        name: "Private Use",
        constant: "CLOSE_PRIVATE_USE",
        sender: Sender::Either,
        sources: &[Source::Rfc6455],
        on_wire: true,
        en: Text {
            meaning: "Private use by applications: the meaning is whatever both ends agreed on. \
                      RFC 6455 says these codes cannot be registered; they are the right place \
                      for application-defined reasons, and browsers let scripts send them.",
            causes: &[
                "The server application closed with its own code. Many mirror HTTP: 4001 or 4401 \
                 unauthorized, 4403 forbidden, 4408 timeout, 4429 too many requests (Hocuspocus \
                 uses 4401, 4403 and 4408; Discord's gateway uses 4000–4014).",
                "The client application closed with its own code, for example on logout.",
            ],
            fixes: &[
                "Read the documentation of the application that sent it, and the reason string.",
                "When designing codes, mirror HTTP statuses (4000 + status) so they explain \
                 themselves, and document which ones clients should retry.",
            ],
        },
        zh: Text {
            meaning: "应用私有：含义由通信双方自行约定。RFC 6455 规定这些状态码不能注册；应用\
                      自定义的关闭原因应放在这里，浏览器也允许脚本发送它们。",
            causes: &[
                "服务端应用用自己的状态码关闭了连接。很多应用参照 HTTP：4001 或 4401 表示未认证、\
                 4403 禁止访问、4408 超时、4429 请求过多（Hocuspocus 使用 4401、4403 和 4408；\
                 Discord 网关使用 4000–4014）。",
                "客户端应用用自己的状态码关闭了连接，例如用户登出时。",
            ],
            fixes: &[
                "查阅发送该状态码的应用的文档，并查看 reason 字符串。",
                "自己设计状态码时参照 HTTP 状态码（4000 + 状态码），使其一目了然，并在文档中写明\
                 客户端应对哪些状态码重连。",
            ],
        },
        notes_en: "stompbox uses 4408 and 4500 in this range; see their entries.",
        notes_zh: "stompbox 在这个区间使用了 4408 和 4500，见各自的条目。",
    },
    Entry {
        lo: 4408,
        hi: 4408,
        name: "Heart-beat Timeout",
        constant: "STOMPBOX_HEARTBEAT_TIMEOUT",
        sender: Sender::Server,
        sources: &[Source::Stompbox],
        on_wire: true,
        en: Text {
            meaning: "stompbox closed the STOMP session because the peer sent nothing for too \
                      long. With heart-beats negotiated in CONNECT/CONNECTED, the client promises \
                      to send something — a frame or a heart-beat EOL — at least every \
                      max(cx, sy) ms; stompbox waits that interval plus a tolerance, then closes \
                      with 4408.",
            causes: &[
                "The client is gone without closing (Wi-Fi dropped, mobile network change, NAT \
                 expiry, laptop sleep): the TCP connection is half-open and the heart-beat is \
                 what noticed. The client never sees this 4408; it shows in stompbox's logs and \
                 metrics.",
                "Browser timer throttling: background tabs run timers at most once a second, \
                 and after a few minutes hidden Chrome may run chained timers only once a \
                 minute, so a 10 s heart-beat arrives far too late.",
                "The client's event loop was blocked (a long task, a GC pause, a debugger \
                 breakpoint) or the device suspended the app.",
                "The client advertised heart-beats in CONNECT (heart-beat:cx,cy) but does not \
                 send them, or sends them more slowly than it promised.",
                "Something in the path buffers client-to-server data, for example a SockJS \
                 HTTP-polling transport queuing its send requests.",
            ],
            fixes: &[
                "Compare the heart-beat header of the client's CONNECT with the one stompbox \
                 returned in CONNECTED, and check that the idle client really sends an EOL at \
                 that rate.",
                "For browser clients, run the heart-beat timer in a Web Worker (@stomp/stompjs 7: \
                 heartbeatStrategy: TickerStrategy.Worker), or advertise a longer outgoing \
                 interval if background tabs must stay connected.",
                "Raise stompbox's heart-beat tolerance for clients on lossy mobile networks.",
                "Make clients reconnect and resubscribe when they come back; a 4408 for a \
                 vanished client is stompbox doing its job.",
                "Keep the STOMP heart-beat at most half of every proxy idle timeout, so the same \
                 traffic also keeps proxies open (see 1006).",
            ],
        },
        zh: Text {
            meaning: "stompbox 关闭了 STOMP 会话，因为对端太久没有发送任何数据。在 CONNECT/\
                      CONNECTED 中协商了心跳之后，客户端承诺至少每 max(cx, sy) 毫秒发送一次数据\
                      ——一个帧或一个心跳换行符（EOL）；stompbox 等待这个间隔再加上容差，仍没有\
                      收到任何数据，就以 4408 关闭连接。",
            causes: &[
                "客户端没有关闭连接就消失了（Wi-Fi 断开、移动网络切换、NAT 映射过期、笔记本\
                 休眠）：TCP 连接处于半开状态，是心跳发现了这一点。客户端永远看不到这个 4408，\
                 它只出现在 stompbox 的日志和指标里。",
                "浏览器定时器节流：后台标签页的定时器最多每秒执行一次，页面隐藏几分钟后 Chrome \
                 可能把链式定时器限制为每分钟一次，10 秒的心跳因此严重迟到。",
                "客户端的事件循环被阻塞（长任务、GC 停顿、调试断点），或者设备挂起了应用。",
                "客户端在 CONNECT 中声明了心跳（heart-beat:cx,cy），实际却没有发送，或者发送\
                 频率低于承诺。",
                "链路中有环节缓冲了客户端到服务端的数据，例如 SockJS 的 HTTP 轮询传输把发送请求\
                 排队了。",
            ],
            fixes: &[
                "对照客户端 CONNECT 中的 heart-beat 头和 stompbox 在 CONNECTED 中返回的值，确认\
                 客户端空闲时确实按这个频率发送 EOL。",
                "浏览器客户端：在 Web Worker 中运行心跳定时器（@stomp/stompjs 7：\
                 heartbeatStrategy: TickerStrategy.Worker）；如果后台标签页必须保持连接，就声明\
                 更长的发送间隔。",
                "对于处在不稳定移动网络中的客户端，调大 stompbox 的心跳容差。",
                "让客户端回来后重连并重新订阅；对已消失的客户端发出 4408，说明 stompbox 在正常\
                 工作。",
                "让 STOMP 心跳间隔不超过链路上每个代理空闲超时的一半，这样同样的流量也能让代理\
                 保持连接（见 1006）。",
            ],
        },
        notes_en: "STOMP 1.2 lets a receiver consider the connection dead when nothing arrives \
                   within the negotiated interval, allowing for an error margin; 4408 makes \
                   that decision visible with its own code instead of a silent TCP close (1006). \
                   The number mirrors HTTP 408 Request Timeout; Hocuspocus also uses 4408 for \
                   its connection timeout, so check which server sent it.",
        notes_zh: "STOMP 1.2 允许接收方在协商的间隔内（考虑一定误差）没有收到任何数据时认为连接\
                   已断开；4408 用一个专门的状态码把这个判断明确告诉对方，而不是悄无声息地断开 \
                   TCP（1006）。这个数字参照了 HTTP 408 Request Timeout；Hocuspocus 也用 4408 \
                   表示它自己的连接超时，所以要先确认是哪个服务端发送的。",
    },
    Entry {
        lo: 4500,
        hi: 4500,
        name: "Session Not Reliable",
        constant: "SESSION_NOT_RELIABLE",
        sender: Sender::Server,
        sources: &[Source::Spring, Source::Stompbox],
        on_wire: true,
        en: Text {
            meaning: "The server closed a session it can't write to reliably: a slow consumer. \
                      Messages for the client queued up faster than it read them, past a limit \
                      on the queue's size or on how long it may stay full, so the server \
                      dropped the queue and closed the session instead of holding ever more \
                      memory or holding up the publishers. Spring's name is \
                      CloseStatus.SESSION_NOT_RELIABLE; stompbox uses 4500 the same way, with a \
                      reason naming the limit: \"slow consumer: send buffer over N bytes\" or \
                      \"slow consumer: could not send for 10s\".",
            causes: &[
                "The client reads more slowly than the server sends: a burst on a busy topic, \
                 more subscriptions than it can handle, or a client whose event loop is busy \
                 (a long task, a throttled background tab).",
                "The network is too slow for the traffic: a mobile link, a congested uplink, or \
                 a proxy that buffers downstream data and hides the slowness until its own \
                 buffer is full.",
                "stompbox: the session's queue passed limits.send_buffer_limit (default 1 MiB), \
                 or stayed above limits.outbox_high_water (256 KiB) without draining to half of \
                 it for limits.send_time_limit (default 10 s). For SockJS over HTTP, a polling \
                 client that stops polling or a streaming one that stops reading counts too.",
                "Spring: a send took longer than sendTimeLimit (default 10 s) or the buffer \
                 outgrew sendBufferSizeLimit (default 512 KiB), both set in \
                 WebSocketTransportRegistration. Spring also closes with 4500 a WebSocket that \
                 sent no message within timeToFirstMessage (default 60 s), typically a client \
                 that never sent STOMP CONNECT.",
            ],
            fixes: &[
                "Make the consumer faster, or send it less: narrower subscriptions, smaller \
                 messages, fewer updates (conflate or sample high-rate data).",
                "Check the client and the path: a busy main thread, a sleeping tab or a slow \
                 link stops reading just like a stuck client does; compare the reason's limit \
                 with the traffic the client was getting.",
                "If the bursts are legitimate, raise the limits: stompbox's \
                 limits.send_buffer_limit and limits.send_time_limit (--send-buffer-limit, \
                 --send-time-limit), or Spring's setSendBufferSizeLimit and setSendTimeLimit.",
                "For work that must not be lost, consume from a queue with ack:client-individual: \
                 the unacknowledged messages of a session closed as slow go to another consumer \
                 (redelivered); brokers with a prefetch limit (RabbitMQ's prefetch-count) keep \
                 the backlog on the broker rather than in one session's buffer.",
                "Make clients reconnect and resubscribe after a 4500, and catch up from the \
                 source of truth: what was queued for them was dropped.",
            ],
        },
        zh: Text {
            meaning: "服务端关闭了一个已无法可靠写入的会话：慢消费者。发给客户端的消息堆积得比\
                      它读取得快，超过了队列大小的限制或队列保持积压的时间限制，于是服务端丢弃\
                      队列并关闭会话，而不是占用越来越多的内存或拖住发布者。Spring 中的名称是 \
                      CloseStatus.SESSION_NOT_RELIABLE；stompbox 以同样的方式使用 4500，reason \
                      会指明是哪个限制：\"slow consumer: send buffer over N bytes\" 或 \
                      \"slow consumer: could not send for 10s\"。",
            causes: &[
                "客户端读取速度跟不上服务端发送速度：繁忙主题上的突发流量、订阅多到处理不过来，\
                 或者事件循环繁忙的客户端（长任务、被节流的后台标签页）。",
                "网络太慢，承载不了这些流量：移动网络、拥塞的上行链路，或者缓冲下行数据的代理\
                 ——它会掩盖慢的问题，直到自己的缓冲区被填满。",
                "stompbox：会话的队列超过了 limits.send_buffer_limit（默认 1 MiB），或者在 \
                 limits.outbox_high_water（256 KiB）之上停留了 limits.send_time_limit（默认 \
                 10 秒）仍未降到它的一半。对于 HTTP 上的 SockJS，停止轮询的轮询客户端或停止读取\
                 的流式客户端也算在内。",
                "Spring：一次发送耗时超过 sendTimeLimit（默认 10 秒），或者缓冲区超过 \
                 sendBufferSizeLimit（默认 512 KiB），两者都在 WebSocketTransportRegistration \
                 中设置。Spring 还会对在 timeToFirstMessage（默认 60 秒）内一条消息都没发的 \
                 WebSocket 以 4500 关闭，通常是客户端从未发送 STOMP CONNECT。",
            ],
            fixes: &[
                "让消费者更快，或者少发给它：收窄订阅、减小消息、降低更新频率（对高频数据做合并\
                 或采样）。",
                "检查客户端和链路：主线程繁忙、标签页休眠或链路太慢，和卡住的客户端一样会停止\
                 读取；把 reason 中的限制和客户端当时收到的流量对照一下。",
                "如果突发流量是正常的，就调大限制：stompbox 的 limits.send_buffer_limit 和 \
                 limits.send_time_limit（--send-buffer-limit、--send-time-limit），或 Spring 的 \
                 setSendBufferSizeLimit 和 setSendTimeLimit。",
                "对于不能丢失的工作，用 ack:client-individual 从队列消费：被当作慢消费者关闭的\
                 会话中未确认的消息会交给其他消费者（重新投递）；有预取限制的代理（RabbitMQ 的 \
                 prefetch-count）会把积压留在代理上，而不是放在某个会话的缓冲区里。",
                "让客户端在收到 4500 后重连并重新订阅，并从数据源补齐：为它排队的消息已被丢弃。",
            ],
        },
        notes_en: "Because the session is considered unreliable, the server does not try to send \
                   more data such as a STOMP ERROR frame; if even the Close frame cannot get \
                   through the full buffer, the client sees 1006 instead of 4500 (stompbox \
                   sends its Close only if the socket takes it at once, and counts the close in \
                   stompbox_slow_consumer_closes_total either way). A SockJS client gets \
                   c[4500,\"…\"] on its next poll.",
        notes_zh: "由于会话被认为不可靠，服务端不会再尝试发送更多数据（例如 STOMP ERROR 帧）；\
                   如果连 Close 帧都无法穿过已满的缓冲区，客户端看到的将是 1006 而不是 4500\
                   （stompbox 只在套接字能立即接收时才发送 Close 帧，无论如何都会计入 \
                   stompbox_slow_consumer_closes_total）。SockJS 客户端会在下一次轮询时收到 \
                   c[4500,\"…\"]。",
    },
    Entry {
        lo: 5000,
        hi: u16::MAX,
        name: "Invalid",
        constant: "CLOSE_INVALID",
        sender: Sender::Never,
        sources: &[Source::Rfc6455],
        on_wire: false,
        en: Text {
            meaning: "Not a valid close code: RFC 6455 defines nothing from 5000 up. An endpoint \
                      must not send one, and a receiver treats it as a protocol error \
                      (tungstenite answers with 1002).",
            causes: &[
                "Application error numbers (10001, 40001 and the like) passed straight into \
                 close().",
                "Arithmetic such as 4000 + an application error number that overflowed \
                 4000–4999.",
                "A corrupted Close frame or a bug in a hand-written implementation.",
            ],
            fixes: &[
                "Map application errors onto 4000–4999 and put the detailed error number in the \
                 reason string.",
                "Look for the sender in server-side or non-browser code: browsers throw \
                 InvalidAccessError for close(5000).",
            ],
        },
        zh: Text {
            meaning: "不是有效的关闭码：RFC 6455 对 5000 及以上没有任何定义。端点不得发送，接收方\
                      会按协议错误处理（tungstenite 以 1002 回应）。",
            causes: &[
                "把应用的错误号（10001、40001 之类）直接传给了 close()。",
                "类似 4000 + 应用错误号这样的计算超出了 4000–4999。",
                "Close 帧被破坏，或者手写的实现有 bug。",
            ],
            fixes: &[
                "把应用错误映射到 4000–4999，把详细的错误号写进 reason 字符串。",
                "在服务端或非浏览器代码中查找发送方：浏览器对 close(5000) 会抛出 \
                 InvalidAccessError。",
            ],
        },
        notes_en: "",
        notes_zh: "",
    },
];
