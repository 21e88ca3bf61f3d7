"""xDLMS service APDUs of the LN referencing (IEC 62056-5-3 clause 9.3, A-XDR).

GET, SET and ACTION requests and responses in their normal, with-list and
block forms, the exception-response and the confirmed-service-error. The
server decodes requests with ``decode_request`` and writes responses with the
``*_response_*`` writers into a bounded ``axdr.Writer``; the client side
(tools, gateway) does the opposite. Malformed input raises DecodeError.
"""

from micropython import const

from dlms import axdr
from dlms.errors import DecodeError

GET_REQUEST = const(0xC0)
SET_REQUEST = const(0xC1)
EVENT_NOTIFICATION_REQUEST = const(0xC2)
ACTION_REQUEST = const(0xC3)
GET_RESPONSE = const(0xC4)
SET_RESPONSE = const(0xC5)
ACTION_RESPONSE = const(0xC7)
EXCEPTION_RESPONSE = const(0xD8)
DATA_NOTIFICATION = const(0x0F)
CONFIRMED_SERVICE_ERROR = const(0x0E)

# Request/response choices (the second octet)
NORMAL = const(1)
NEXT = const(2)  # GET next, ACTION next-pblock
WITH_LIST = const(3)  # GET/ACTION with-list (SET: 4)
WITH_DATABLOCK = const(2)  # GET response with-datablock
SET_FIRST_DATABLOCK = const(2)
SET_DATABLOCK = const(3)
SET_WITH_LIST = const(4)
SET_WITH_LIST_FIRST_DATABLOCK = const(5)
ACTION_FIRST_PBLOCK = const(4)
ACTION_WITH_LIST_FIRST_PBLOCK = const(5)
ACTION_PBLOCK = const(6)

# Data-access-result (Green Book 9.5, Table "Data-Access-Result")
SUCCESS = const(0)
HARDWARE_FAULT = const(1)
TEMPORARY_FAILURE = const(2)
READ_WRITE_DENIED = const(3)
OBJECT_UNDEFINED = const(4)
OBJECT_CLASS_INCONSISTENT = const(9)
OBJECT_UNAVAILABLE = const(11)
TYPE_UNMATCHED = const(12)
SCOPE_OF_ACCESS_VIOLATED = const(13)
DATA_BLOCK_UNAVAILABLE = const(14)
LONG_GET_ABORTED = const(15)
NO_LONG_GET_IN_PROGRESS = const(16)
LONG_SET_ABORTED = const(17)
NO_LONG_SET_IN_PROGRESS = const(18)
DATA_BLOCK_NUMBER_INVALID = const(19)
OTHER_REASON = const(250)
# Action-result uses the same numbers; 15/16 read long-action-aborted and
# no-long-action-in-progress.

# Exception-response (Green Book 9.5): state-error, service-error
STATE_SERVICE_NOT_ALLOWED = const(1)
STATE_SERVICE_UNKNOWN = const(2)
SERVICE_OPERATION_NOT_POSSIBLE = const(1)
SERVICE_NOT_SUPPORTED = const(2)
SERVICE_OTHER_REASON = const(3)
SERVICE_PDU_TOO_LONG = const(4)
SERVICE_DECIPHERING_ERROR = const(5)
SERVICE_INVOCATION_COUNTER_ERROR = const(6)


class Request:
    """A decoded request. ``items`` holds (class_id, ln, id, selector, params)
    tuples: id is the attribute or method id, selector/params the access
    selection (None when absent). ``values`` holds the typed data of SET and
    the ACTION parameters (None for an absent parameter)."""

    def __init__(self, tag, kind, invoke):
        self.tag = tag
        self.kind = kind
        self.invoke = invoke
        self.items = []
        self.values = []
        self.block = 0
        self.last = True
        self.raw = None

    def __repr__(self):
        return "Request(%02X/%d, items=%r, block=%d)" % (
            self.tag,
            self.kind,
            self.items,
            self.block,
        )


def _u16(buf, pos):
    return (buf[pos] << 8) | buf[pos + 1]


def _u32(buf, pos):
    return (buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]


def _need(buf, pos, n):
    if pos + n > len(buf):
        raise DecodeError("APDU truncated", pos)


def _descriptor(buf, pos, with_selection):
    # Cosem-Attribute-Descriptor / Cosem-Method-Descriptor: class-id Unsigned16,
    # instance-id octet-string(6), attribute/method-id Integer8
    _need(buf, pos, 9)
    class_id = _u16(buf, pos)
    ln = bytes(buf[pos + 2 : pos + 8])
    ident = buf[pos + 8]
    if ident > 127:
        ident -= 256
    pos += 9
    selector = params = None
    if with_selection:
        _need(buf, pos, 1)
        if buf[pos]:
            _need(buf, pos, 2)
            selector = buf[pos + 1]
            params, pos = axdr.decode(buf, pos + 2)
        else:
            pos += 1
    return (class_id, ln, ident, selector, params), pos


def _datablock(buf, pos, r):
    # DataBlock-SA: last-block BOOLEAN, block-number Unsigned32, raw-data OCTET STRING
    _need(buf, pos, 5)
    r.last = bool(buf[pos])
    r.block = _u32(buf, pos + 1)
    n, pos = axdr.decode_length(buf, pos + 5)
    _need(buf, pos, n)
    r.raw = bytes(buf[pos : pos + n])
    return pos + n


def _descriptors(buf, pos, with_selection, r):
    # SEQUENCE OF descriptors: the with-list forms
    n, pos = axdr.decode_length(buf, pos)
    for _ in range(n):
        item, pos = _descriptor(buf, pos, with_selection)
        r.items.append(item)
    return n, pos


def _parameter(buf, pos, r):
    # ACTION method-invocation-parameters: Data OPTIONAL
    _need(buf, pos, 1)
    if buf[pos]:
        v, pos = axdr.decode(buf, pos + 1)
    else:
        v, pos = None, pos + 1
    r.values.append(v)
    return pos


def decode_request(buf):
    """Decode a GET, SET or ACTION request APDU into a Request."""
    _need(buf, 0, 3)
    tag = buf[0]
    kind = buf[1]
    r = Request(tag, kind, buf[2])
    pos = 3
    if tag == GET_REQUEST:
        if kind == NORMAL:
            item, pos = _descriptor(buf, pos, True)
            r.items.append(item)
        elif kind == NEXT:
            _need(buf, pos, 4)
            r.block = _u32(buf, pos)
            pos += 4
        elif kind == WITH_LIST:
            n, pos = _descriptors(buf, pos, True, r)
        else:
            raise DecodeError("unknown GET-Request choice %d" % kind, 1)
    elif tag == SET_REQUEST:
        if kind == NORMAL or kind == SET_FIRST_DATABLOCK:
            item, pos = _descriptor(buf, pos, True)
            r.items.append(item)
            if kind == NORMAL:
                v, pos = axdr.decode(buf, pos)
                r.values.append(v)
            else:
                pos = _datablock(buf, pos, r)
        elif kind == SET_DATABLOCK:
            pos = _datablock(buf, pos, r)
        elif kind == SET_WITH_LIST or kind == SET_WITH_LIST_FIRST_DATABLOCK:
            n, pos = _descriptors(buf, pos, True, r)
            if kind == SET_WITH_LIST:
                m, pos = axdr.decode_length(buf, pos)
                if m != n:
                    raise DecodeError("SET with-list: %d values for %d attributes" % (m, n), pos)
                for _ in range(m):
                    v, pos = axdr.decode(buf, pos)
                    r.values.append(v)
            else:
                pos = _datablock(buf, pos, r)
        else:
            raise DecodeError("unknown SET-Request choice %d" % kind, 1)
    elif tag == ACTION_REQUEST:
        if kind == NORMAL:
            item, pos = _descriptor(buf, pos, False)
            r.items.append(item)
            pos = _parameter(buf, pos, r)
        elif kind == NEXT:
            _need(buf, pos, 4)
            r.block = _u32(buf, pos)
            pos += 4
        elif kind == WITH_LIST:
            n, pos = _descriptors(buf, pos, False, r)
            m, pos = axdr.decode_length(buf, pos)
            if m != n:
                raise DecodeError("ACTION with-list: %d parameters for %d methods" % (m, n), pos)
            for _ in range(m):
                pos = _parameter(buf, pos, r)
        elif kind == ACTION_FIRST_PBLOCK:
            item, pos = _descriptor(buf, pos, False)
            r.items.append(item)
            pos = _datablock(buf, pos, r)
        elif kind == ACTION_PBLOCK:
            pos = _datablock(buf, pos, r)
        else:
            raise DecodeError("unknown ACTION-Request choice %d" % kind, 1)
    else:
        raise DecodeError("not a GET/SET/ACTION request: 0x%02X" % tag, 0)
    if pos != len(buf):
        raise DecodeError("trailing octets after the request", pos)
    return r


# -- server side: response writers -----------------------------------------


def write_header(w, tag, kind, invoke):
    w.byte(tag)
    w.byte(kind)
    w.byte(invoke)


def get_response_normal_result(w, invoke, result):
    """GET-Response-Normal carrying a data-access-result."""
    write_header(w, GET_RESPONSE, NORMAL, invoke)
    w.byte(1)
    w.byte(result)


def get_response_datablock_head(w, invoke, last, block, raw_len):
    """The head of GET-Response-With-Datablock carrying raw_len octets of raw-data."""
    write_header(w, GET_RESPONSE, WITH_DATABLOCK, invoke)
    w.byte(1 if last else 0)
    w.u32(block)
    w.byte(0)  # raw-data [0]
    axdr.encode_length(w, raw_len)


def get_response_datablock_result(w, invoke, block, result):
    write_header(w, GET_RESPONSE, WITH_DATABLOCK, invoke)
    w.byte(1)
    w.u32(block)
    w.byte(1)  # data-access-result [1]
    w.byte(result)


def set_response_normal(w, invoke, result):
    write_header(w, SET_RESPONSE, NORMAL, invoke)
    w.byte(result)


def set_response_datablock(w, invoke, block):
    write_header(w, SET_RESPONSE, 2, invoke)
    w.u32(block)


def set_response_last_datablock(w, invoke, result, block):
    write_header(w, SET_RESPONSE, 3, invoke)
    w.byte(result)
    w.u32(block)


def set_response_last_datablock_with_list(w, invoke, results, block):
    write_header(w, SET_RESPONSE, 4, invoke)
    axdr.encode_length(w, len(results))
    for r in results:
        w.byte(r)
    w.u32(block)


def set_response_with_list(w, invoke, results):
    write_header(w, SET_RESPONSE, 5, invoke)
    axdr.encode_length(w, len(results))
    for r in results:
        w.byte(r)


def action_response_normal(w, invoke, result, data=None):
    """ACTION-Response-Normal; ``data`` typed return data or None."""
    write_header(w, ACTION_RESPONSE, NORMAL, invoke)
    w.byte(result)
    if data is None:
        w.byte(0)
    else:
        w.byte(1)
        w.byte(0)  # Get-Data-Result data [0]
        axdr.encode(w, data)


def action_response_with_list(w, invoke, results):
    """``results``: list of (action_result, typed return data or None)."""
    write_header(w, ACTION_RESPONSE, WITH_LIST, invoke)
    axdr.encode_length(w, len(results))
    for result, data in results:
        w.byte(result)
        if data is None:
            w.byte(0)
        else:
            w.byte(1)
            w.byte(0)
            axdr.encode(w, data)


def action_response_pblock_head(w, invoke, last, block, raw_len):
    write_header(w, ACTION_RESPONSE, 2, invoke)
    w.byte(1 if last else 0)
    w.u32(block)
    axdr.encode_length(w, raw_len)


def exception_response(state_error, service_error, ic=0):
    """ExceptionResponse (Green Book 9.5); invocation-counter-error (6)
    carries an Unsigned32: ``ic``, the lowest counter the server accepts."""
    if service_error == SERVICE_INVOCATION_COUNTER_ERROR:
        head = bytes((EXCEPTION_RESPONSE, state_error, service_error))
        return head + (ic & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes((EXCEPTION_RESPONSE, state_error, service_error))


# -- client side: request writers and response decoding ---------------------


def _write_descriptor(w, class_id, ln, ident):
    w.u16(class_id)
    w.write(ln)
    w.byte(ident & 0xFF)


def _write_selection(w, selector, params):
    if selector is None:
        w.byte(0)
    else:
        w.byte(1)
        w.byte(selector)
        axdr.encode(w, params)


def get_request_normal(w, invoke, class_id, ln, attr, selector=None, params=None):
    write_header(w, GET_REQUEST, NORMAL, invoke)
    _write_descriptor(w, class_id, ln, attr)
    _write_selection(w, selector, params)


def get_request_next(w, invoke, block):
    write_header(w, GET_REQUEST, NEXT, invoke)
    w.u32(block)


def get_request_with_list(w, invoke, items):
    """``items``: (class_id, ln, attr[, selector, params]) tuples."""
    write_header(w, GET_REQUEST, WITH_LIST, invoke)
    axdr.encode_length(w, len(items))
    for it in items:
        _write_descriptor(w, it[0], it[1], it[2])
        _write_selection(w, it[3] if len(it) > 3 else None, it[4] if len(it) > 4 else None)


def set_request_normal(w, invoke, class_id, ln, attr, data, selector=None, params=None):
    write_header(w, SET_REQUEST, NORMAL, invoke)
    _write_descriptor(w, class_id, ln, attr)
    _write_selection(w, selector, params)
    axdr.encode(w, data)


def set_request_with_list(w, invoke, items, datas):
    write_header(w, SET_REQUEST, SET_WITH_LIST, invoke)
    axdr.encode_length(w, len(items))
    for it in items:
        _write_descriptor(w, it[0], it[1], it[2])
        _write_selection(w, None, None)
    axdr.encode_length(w, len(datas))
    for d in datas:
        axdr.encode(w, d)


def set_request_first_datablock(w, invoke, class_id, ln, attr, last, raw):
    write_header(w, SET_REQUEST, SET_FIRST_DATABLOCK, invoke)
    _write_descriptor(w, class_id, ln, attr)
    w.byte(0)
    w.byte(1 if last else 0)
    w.u32(1)
    axdr.encode_length(w, len(raw))
    w.write(raw)


def set_request_datablock(w, invoke, last, block, raw):
    write_header(w, SET_REQUEST, SET_DATABLOCK, invoke)
    w.byte(1 if last else 0)
    w.u32(block)
    axdr.encode_length(w, len(raw))
    w.write(raw)


def action_request_normal(w, invoke, class_id, ln, method, data=None):
    write_header(w, ACTION_REQUEST, NORMAL, invoke)
    _write_descriptor(w, class_id, ln, method)
    if data is None:
        w.byte(0)
    else:
        w.byte(1)
        axdr.encode(w, data)


class Response:
    """A decoded response. ``results`` holds per item either ('data', typed)
    or ('error', data-access-result) for GET, the result code for SET, and
    (action_result, return) for ACTION. Block responses set block/last/raw."""

    def __init__(self, tag, kind, invoke):
        self.tag = tag
        self.kind = kind
        self.invoke = invoke
        self.results = []
        self.block = 0
        self.last = True
        self.raw = None
        self.error = None  # data-access-result of a failed block


def _get_data_result(buf, pos):
    _need(buf, pos, 2)
    if buf[pos] == 0:
        d, pos = axdr.decode(buf, pos + 1)
        return ("data", d), pos
    return ("error", buf[pos + 1]), pos + 2


def decode_response(buf):
    _need(buf, 0, 1)
    tag = buf[0]
    if tag == EXCEPTION_RESPONSE:
        _need(buf, 0, 3)
        r = Response(tag, 0, 0)
        r.results.append((buf[1], buf[2]))
        return r
    if tag == CONFIRMED_SERVICE_ERROR:
        _need(buf, 0, 4)
        r = Response(tag, 0, 0)
        r.results.append((buf[1], buf[2], buf[3]))
        return r
    _need(buf, 0, 3)
    kind = buf[1]
    r = Response(tag, kind, buf[2])
    pos = 3
    if tag == GET_RESPONSE:
        if kind == NORMAL:
            res, pos = _get_data_result(buf, pos)
            r.results.append(res)
        elif kind == WITH_DATABLOCK:
            _need(buf, pos, 6)
            r.last = bool(buf[pos])
            r.block = _u32(buf, pos + 1)
            if buf[pos + 5] == 0:
                n, pos = axdr.decode_length(buf, pos + 6)
                _need(buf, pos, n)
                r.raw = bytes(buf[pos : pos + n])
                pos += n
            else:
                _need(buf, pos, 7)
                r.error = buf[pos + 6]
                pos += 7
        elif kind == WITH_LIST:
            n, pos = axdr.decode_length(buf, pos)
            for _ in range(n):
                res, pos = _get_data_result(buf, pos)
                r.results.append(res)
        else:
            raise DecodeError("unknown GET-Response choice %d" % kind, 1)
    elif tag == SET_RESPONSE:
        if kind == NORMAL:
            _need(buf, pos, 1)
            r.results.append(buf[pos])
            pos += 1
        elif kind == 2:
            _need(buf, pos, 4)
            r.block = _u32(buf, pos)
            r.last = False
            pos += 4
        elif kind == 3:
            _need(buf, pos, 5)
            r.results.append(buf[pos])
            r.block = _u32(buf, pos + 1)
            pos += 5
        elif kind == 4 or kind == 5:
            n, pos = axdr.decode_length(buf, pos)
            _need(buf, pos, n)
            r.results.extend(buf[pos : pos + n])
            pos += n
            if kind == 4:
                _need(buf, pos, 4)
                r.block = _u32(buf, pos)
                pos += 4
        else:
            raise DecodeError("unknown SET-Response choice %d" % kind, 1)
    elif tag == ACTION_RESPONSE:
        if kind == NORMAL or kind == WITH_LIST:
            n = 1
            if kind == WITH_LIST:
                n, pos = axdr.decode_length(buf, pos)
            for _ in range(n):
                _need(buf, pos, 2)
                result = buf[pos]
                ret = None
                if buf[pos + 1]:
                    ret, pos = _get_data_result(buf, pos + 2)
                else:
                    pos += 2
                r.results.append((result, ret))
        elif kind == 2:  # with-pblock
            _need(buf, pos, 5)
            r.last = bool(buf[pos])
            r.block = _u32(buf, pos + 1)
            n, pos = axdr.decode_length(buf, pos + 5)
            _need(buf, pos, n)
            r.raw = bytes(buf[pos : pos + n])
            pos += n
        elif kind == 4:  # next-pblock
            _need(buf, pos, 4)
            r.block = _u32(buf, pos)
            pos += 4
        else:
            raise DecodeError("unknown ACTION-Response choice %d" % kind, 1)
    else:
        raise DecodeError("not a GET/SET/ACTION response: 0x%02X" % tag, 0)
    if pos != len(buf):
        raise DecodeError("trailing octets after the response", pos)
    return r
