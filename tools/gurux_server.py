"""A gurux-dlms Python server serving one register, the reference for `make bench`.

``python -m tools.gurux_server --port N`` serves, on 127.0.0.1 through the TCP
wrapper (IEC 62056-47), a ``GXDLMSServer`` with LN referencing, no
authentication for client 16 at server logical address 1, and three objects:

- Register 1.0.1.8.0.255, double-long-unsigned 123456, scaler 0, unit Wh (30);
- Association LN 0.0.40.0.0.255;
- Logical device name 0.0.42.0.0.255.

A plain blocking socket loop, one client at a time, feeds what arrives to
gurux's ``handleRequest`` and sends back its reply. SIGINT and SIGTERM stop it.

gurux-dlms 1.0.203 is a half-finished port of the C#/Java library: its server
crashes on the first GET as shipped. The patches below are the smallest that
make associate (AARQ/AARE), GET-normal of the register's attributes 2 and 3,
and release (RLRQ/RLRE) work; each names the gurux bug it works around. They
live in the subclasses here and nothing in site-packages is touched. Other
services (SET, ACTION, block transfer, HDLC) are not patched and may still fail.

``serve(port, ready_event=None, stop_event=None)`` runs the loop in the
calling thread (tools/bench.py starts ``python -m tools.gurux_server`` as a
subprocess and waits until the port accepts).
"""

import argparse
import signal
import socket
import sys
import threading

from gurux_dlms._GXAPDU import _GXAPDU
from gurux_dlms.enums import AccessMode, DataType, InterfaceType, MethodAccessMode, Unit
from gurux_dlms.enums.SourceDiagnostic import SourceDiagnostic
from gurux_dlms.GXDLMSServer import GXDLMSServer
from gurux_dlms.GXServerReply import GXServerReply
from gurux_dlms.internal._GXCommon import _GXCommon
from gurux_dlms.objects import GXDLMSAssociationLogicalName, GXDLMSData, GXDLMSRegister

CLIENT = 16  # public client, no authentication
SERVER = 1  # server (management) logical address
REGISTER_LN = "1.0.1.8.0.255"
REGISTER_VALUE = 123456
LDN = b"GRX0000000000001"
POLL = 0.25  # seconds between checks of the stop event while idle


class _ServerReply(GXServerReply):
    # gurux bug: GXDLMSServer.handleRequest() stores its answer with
    # sr.setReply(...), which GXServerReply does not define (AttributeError on
    # every request, and again in handleRequest's own error path).
    def setReply(self, value):
        self.reply = value

    # gurux bug: GXDLMSServer.handleCommand() calls sr.getConnectionInfo() for
    # AARQ and RLRQ, which GXServerReply does not define either.
    def getConnectionInfo(self):
        return self.connectionInfo


class GuruxServer(GXDLMSServer):
    """gurux's server with the meter's register and the callbacks it needs."""

    def __init__(self):
        super().__init__(True, InterfaceType.WRAPPER)
        register = GXDLMSRegister(REGISTER_LN)
        register.setDataType(2, DataType.UINT32)  # double-long-unsigned
        register.value = REGISTER_VALUE
        register.scaler = 1  # gurux keeps 10**scaler here: 1 is sent as scaler 0
        register.unit = Unit.ACTIVE_ENERGY  # Wh, 30
        ldn = GXDLMSData("0.0.42.0.0.255")
        ldn.setDataType(2, DataType.OCTET_STRING)
        ldn.value = LDN
        association = GXDLMSAssociationLogicalName("0.0.40.0.0.255")
        for obj in (association, ldn, register):
            self.items.append(obj)
        # gurux bug: initialize() does objectList.append(self.items), appending
        # the whole collection as one object, which GXDLMSObjectCollection
        # rejects (TypeError). Filled in here, initialize() skips that line.
        association.objectList.extend(self.items)
        self.initialize()

    # -- patches ---------------------------------------------------------

    # gurux bug: GXDLMSLNCommandHandler.getRequestNormal() calls
    # server.notifyRead(), which GXDLMSServer does not define.
    def notifyRead(self, args=None):
        self.onPreRead(args)

    # gurux bug: getRequestNormal() calls server.onPostRead() without the
    # argument the abstract method declares (TypeError), so it defaults here.
    def onPostRead(self, args=None):
        pass

    # gurux bug: handleReleaseRequest() writes the RLRE's BER lengths as if
    # the user-information had no tags (0x63 len(ui) ... 0xBE 1+len(ui)), so
    # the RLRE claims less than it holds; lengths corrected, rest as gurux.
    def handleReleaseRequest(self, data):
        if self.settings.interfaceType != InterfaceType.WRAPPER:
            self.replyData.set(_GXCommon.LLC_REPLY_BYTES)
        ui = _GXAPDU.getUserInformation(self.settings, self.settings.cipher)
        self.replyData.set(bytes((0x63, len(ui) + 7, 0x80, 0x01, 0x00)))  # reason normal
        self.replyData.set(bytes((0xBE, len(ui) + 2, 0x04, len(ui))))
        self.replyData.set(ui)

    # -- the callbacks gurux calls (abstract in GXDLMSServer) ------------

    def isTarget(self, serverAddress, clientAddress):
        return serverAddress == SERVER and clientAddress == CLIENT

    def onValidateAuthentication(self, authentication, password):
        return SourceDiagnostic.NONE

    def onFindObject(self, objectType, sn, ln):
        return None

    def onGetAttributeAccess(self, arg):
        return AccessMode.READ

    def onGetMethodAccess(self, arg):
        return MethodAccessMode.NO_ACCESS

    def onPreRead(self, args):
        pass

    def onPreGet(self, args):
        pass

    def onPostGet(self, args):
        pass

    def onPreWrite(self, args):
        pass

    def onPostWrite(self, args):
        pass

    def onPreAction(self, args):
        pass

    def onPostAction(self, args):
        pass

    def onConnected(self, connectionInfo):
        pass

    def onInvalidConnection(self, connectionInfo):
        pass

    def onDisconnected(self, connectionInfo):
        pass

    # -- one request -----------------------------------------------------

    def reply_to(self, data):
        """The bytes to send back for ``data`` received (b"" while incomplete)."""
        sr = _ServerReply(bytearray(data))
        self.handleRequest(sr)
        return bytes(sr.reply or b"")


def _serve_client(server, conn, stop_event):
    conn.settimeout(POLL)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while not stop_event.is_set():
        try:
            data = conn.recv(4096)
        except TimeoutError:
            continue
        if not data:
            return
        out = server.reply_to(data)
        if out:
            conn.sendall(out)


def serve(port, ready_event=None, stop_event=None, host="127.0.0.1"):
    """Serve clients one at a time until ``stop_event`` is set.

    ``ready_event`` is set once the port accepts connections.
    """
    if stop_event is None:
        stop_event = threading.Event()
    server = GuruxServer()
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(4)
        listener.settimeout(POLL)
        if ready_event is not None:
            ready_event.set()
        while not stop_event.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            server.reset()
            with conn:
                try:
                    _serve_client(server, conn, stop_event)
                except Exception as e:  # one bad client must not stop the bench
                    print("gurux_server: connection dropped: %r" % (e,), file=sys.stderr)
                finally:
                    server.reset()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--port", type=int, default=4059)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args(argv)
    stop_event = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop_event.set())
    serve(args.port, stop_event=stop_event, host=args.host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
