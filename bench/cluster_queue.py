#!/usr/bin/env python3
"""Usage: bench/cluster_queue.py [N] [auto|client-individual] [STOMPBOX_BINARY]

Queue throughput through a 2-node cluster: a sender on node 1, consumers on node 2 (ack:auto
or client-individual), N messages; messages/s end to end and Redis CPU."""
import socket, subprocess, time, sys, os, threading
B=sys.argv[3] if len(sys.argv)>3 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "stompbox")
N=int(sys.argv[1]) if len(sys.argv)>1 else 100000
ACK=sys.argv[2] if len(sys.argv)>2 else 'auto'
def port():
    s=socket.socket(); s.bind(('127.0.0.1',0)); p=s.getsockname()[1]; s.close(); return p
rp=port()
redis=subprocess.Popen(['redis-server','--port',str(rp),'--bind','127.0.0.1','--save','','--appendonly','no'],stdout=subprocess.DEVNULL)
time.sleep(0.5)
nodes=[]
for i in range(2):
    hp,tp=port(),port()
    p=subprocess.Popen([B,'serve','--listen',f'127.0.0.1:{hp}','--tcp-listen',f'127.0.0.1:{tp}','--cluster',f'redis://127.0.0.1:{rp}','--log','warn'])
    nodes.append((p,tp))
time.sleep(1.5)
def conn(tp):
    s=socket.create_connection(('127.0.0.1',tp)); s.sendall(b'CONNECT\naccept-version:1.2\nhost:x\nheart-beat:0,0\n\n\0'); s.recv(4096); return s
def cpu(pid):
    f=open(f'/proc/{pid}/stat').read().rsplit(')',1)[1].split(); return (int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK')
cons=conn(nodes[1][1])
cons.sendall(f'SUBSCRIBE\nid:s\ndestination:/queue/bench\nack:{ACK}\n\n\0'.encode())
time.sleep(0.5)
got=0; done=threading.Event()
def reader():
    global got
    buf=b''
    while got<N:
        d=cons.recv(1<<20)
        if not d: break
        buf+=d
        parts=buf.split(b'\0'); buf=parts[-1]
        acks=[]
        for f in parts[:-1]:
            if f.lstrip(b'\n').startswith(b'MESSAGE'):
                got+=1
                if ACK!='auto':
                    for line in f.split(b'\n'):
                        if line.startswith(b'ack:'): acks.append(b'ACK\nid:'+line[4:]+b'\n\n\0')
        if acks: cons.sendall(b''.join(acks))
    done.set()
t=threading.Thread(target=reader); t.start()
snd=conn(nodes[0][1])
body=b'x'*100
frame=b'SEND\ndestination:/queue/bench\n\n'+body+b'\0'
c0=[cpu(redis.pid)]+[cpu(p.pid) for p,_ in nodes]
t0=time.time()
batch=frame*500
for i in range(N//500): snd.sendall(batch)
snd.sendall(b'SEND\ndestination:/queue/bench-end\nreceipt:end\n\n\0')
snd.settimeout(120); snd.recv(4096)
t_sent=time.time()-t0
done.wait(300)
dt=time.time()-t0
c1=[cpu(redis.pid)]+[cpu(p.pid) for p,_ in nodes]
print(f'ack:{ACK} {N} messages: stored in {t_sent:.2f}s, all delivered in {dt:.2f}s: {got/dt:,.0f} msg/s end to end; '
      f'CPU s: redis {c1[0]-c0[0]:.2f}, node1 {c1[1]-c0[1]:.2f}, node2 {c1[2]-c0[2]:.2f}; redis CPU per message {1e6*(c1[0]-c0[0])/max(got,1):.1f} µs')
for p,_ in nodes: p.kill()
redis.kill()
