"""app.gateway without I/O: telegrams and pushes fed in pieces become COSEM
objects and counters (both runtimes)."""

import unittest

import support  # noqa: F401  (keeps the firmware quiet)
from app import config
from app.gateway import Gateway
from dlms import axdr, obis

DSMR = "host_tests/data/dsmr/"


def read(name):
    with open(DSMR + name, "rb") as f:
        return f.read()


def gateway(**g):
    return Gateway(config.load('{"gateway": %s}' % _json(g)))


def _json(d):
    import json

    return json.dumps(d)


class TestGatewayModel(unittest.TestCase):
    def test_p1_values_become_registers(self):
        gw = gateway()
        t = read("dsmr50_iskra.txt")
        for i in range(0, len(t), 7):
            gw.feed(t[i : i + 7])
        self.assertEqual(gw.counters["telegrams"], 1)
        reg = gw.device.find(obis.parse("1.0.1.8.1.255"))
        self.assertEqual(reg.CLASS_ID, 3)
        self.assertEqual(reg.get(2, None), (axdr.DOUBLE_LONG_UNSIGNED, 4426))
        self.assertEqual(reg.get(3, None), (axdr.STRUCTURE, [(axdr.INTEGER, 0), (axdr.ENUM, 30)]))
        amps = gw.device.find(obis.parse("1.0.71.7.0.255"))
        self.assertEqual(amps.get(2, None)[1], 86)
        self.assertEqual(amps.get(3, None)[1][0], (axdr.INTEGER, -2))
        ident = gw.device.find(obis.parse("0.0.96.1.1.255"))
        self.assertEqual(ident.CLASS_ID, 1)
        self.assertEqual(ident.get(2, None)[0], axdr.OCTET_STRING)

    def test_floats_keep_their_decimals(self):
        from app.gateway import _exact

        for f, want in ((60520.216, (60520216, -3)), (228.2, (2282, -1)), (0.0, (0, 0))):
            self.assertEqual(_exact(f), want)
        self.assertEqual(_exact(-12.5), (-125, -1))

    def test_a_value_with_other_decimals_keeps_the_objects_scaler(self):
        gw = gateway()
        gw.update({"1-0:1.8.0": {"value": 60520.22, "unit": "kWh"}})  # "060520.220"
        reg = gw.device.find(obis.parse("1.0.1.8.0.255"))
        scaler = reg.get(3, None)[1][0][1]
        gw.update({"1-0:1.8.0": {"value": 60520.216, "unit": "kWh"}})
        self.assertEqual(scaler, 1)  # 60520.22 kWh read as 6052022 x 10 Wh
        self.assertEqual(reg.get(3, None)[1][0][1], 1)
        self.assertEqual(reg.get(2, None)[1], 6052021)  # 60520.216 kWh, in 10 Wh

    def test_readout_values_keep_the_text_decimals(self):
        from app.optical import readout_values
        from dlms.iec62056_21_client import parse_data_block

        r = parse_data_block(
            "1.8.0(060520.220*kWh)\r\n32.7.0(228.2*V)\r\n0-0:96.1.0(00000001)\r\n!"
        )
        v = readout_values(r)
        self.assertEqual(v["1-0:1.8.0"], {"value": 60520220, "scaler": -3, "unit": "kWh"})
        self.assertEqual(v["1-0:32.7.0"]["scaler"], -1)
        self.assertEqual(v["0-0:96.1.0"], {"value": "00000001", "unit": None})

    def test_readout_values_leave_past_billing_periods_out(self):
        # an EMH LZQJ readout (EnergyICT protocolimpl LZQJTest dataDump1):
        # each register, then its value at the end of the last billing
        # period (*01), which must not replace the current one
        from app.optical import readout_values
        from dlms.iec62056_21_client import parse_data_block

        r = parse_data_block(
            "1.8.1(00052.197*kWh)\r\n1.8.1*01(00027.462*kWh)\r\n"
            "1.8.2(00357.646*kWh)\r\n1.8.2*01(00180.980*kWh)\r\n!"
        )
        v = readout_values(r)
        self.assertEqual(sorted(v), ["1-0:1.8.1", "1-0:1.8.2"])
        self.assertEqual(v["1-0:1.8.1"]["value"], 52197)
        self.assertEqual(v["1-0:1.8.2"]["value"], 357646)

    def test_a_han_push_replayed_after_a_reboot_is_refused(self):
        import binascii
        import os

        from hal.store import open_store

        with open("host_tests/data/han/samples.txt") as f:
            text = f.read()
        block = text.split("== evn_mbus\n", 1)[1].split("\n== ", 1)[0]
        head, _, hexpart = block.partition("hex:\n")
        key = [ln[4:] for ln in head.splitlines() if ln.startswith("ek: ")][0]
        frames = binascii.unhexlify("".join(hexpart.split()))
        path = "/tmp/mpdlms-gw-%s.img" % binascii.hexlify(os.urandom(4)).decode()
        store = open_store(path, 64, 512)
        try:
            gw = Gateway(
                config.load('{"gateway": {"input": "han", "key": "%s"}}' % key), store=store
            )
            gw.feed(frames)
            self.assertEqual(gw.counters["telegrams"], 1)
            self.assertIsNotNone(gw.device.find(obis.parse("1.0.1.8.0.255")))
            store = open_store(None, dev=store.dev.reboot())  # power cycle
            gw = Gateway(
                config.load('{"gateway": {"input": "han", "key": "%s"}}' % key), store=store
            )
            gw.feed(frames)
            self.assertEqual((gw.counters["telegrams"], gw.counters["stale"]), (0, 1))
        finally:
            store.dev.close()
            os.remove(path)

    def test_a_second_telegram_updates_in_place(self):
        gw = gateway()
        gw.feed(read("dsmr50_iskra.txt"))
        n = len(gw.device.objects) if hasattr(gw.device, "objects") else None
        gw.feed(read("dsmr50_iskra.txt"))
        self.assertEqual(gw.counters["telegrams"], 2)
        if n is not None:
            self.assertEqual(len(gw.device.objects), n)

    def test_crc_failure_counted_not_used(self):
        gw = gateway()
        bad = read("dsmr50_iskra.txt").replace(b"000004.426", b"000009.426")
        gw.feed(bad)
        self.assertEqual((gw.counters["telegrams"], gw.counters["crc"]), (0, 1))
        self.assertIsNone(gw.device.find(obis.parse("1.0.1.8.1.255")))
        self.assertEqual(gw.status()["last_error"], "crc")

    def test_smarty_encrypted(self):
        import binascii

        frame = binascii.unhexlify(b"".join(read("smarty_encrypted.hex").split()))
        gw = gateway(key="D491470F47126332B07D1923B3504188")
        gw.feed(frame)
        self.assertEqual(gw.counters["telegrams"], 1)
        self.assertIsNotNone(gw.device.find(obis.parse("1.0.1.8.0.255")))
        gw.feed(frame)  # the same frame again: a replay
        self.assertEqual(gw.counters["stale"], 1)
        self.assertEqual(gw.counters["telegrams"], 1)
        wrong = gateway(key="00" * 16)
        wrong.feed(frame)
        self.assertEqual(wrong.counters["decrypt"], 1)


if __name__ == "__main__":
    unittest.main()


class Recorder:
    """A connected MQTT client that keeps what it is given to publish."""

    connected = True

    def __init__(self):
        self.out = []
        self.on_connect = self.on_message = None

    def subscribe(self, topic, qos=0):
        pass

    def publish(self, topic, payload, qos=0, retain=False):
        self.out.append((topic, payload))

    def publish_state(self, topic, payload, qos=0, retain=False):
        self.out.append((topic, payload))
        return True


def published(**g):
    """A Gateway with Home Assistant discovery on a Recorder."""
    from gateway.homeassistant import Discovery

    gw = gateway(**g)
    d = Discovery({"id": "gw", "name": "Meter"}, [])
    rec = Recorder()
    d.attach(rec)
    gw.discovery = d
    return gw, rec


class TestWhatHomeAssistantGets(unittest.TestCase):
    def state(self, gw, rec, key, value, unit):
        del rec.out[:]
        gw.update({key: {"value": value, "unit": unit}})
        return [p for t, p in rec.out if t.endswith("/state")][-1]

    def test_each_reading_with_its_own_decimals(self):
        # HAN pushes give floats: 0.0 A first, then 7.5 A; 230.7 V then
        # 231.0 V. Each state is written with its own decimals, not the
        # first reading's (75 A, 23.1 V; 12345.7 kWh as 1234.57, which HA
        # would take for a meter reset)
        gw, rec = published(input="han")
        self.assertEqual(self.state(gw, rec, "1-0:31.7.0", 0.0, "A"), "0")
        self.assertEqual(self.state(gw, rec, "1-0:31.7.0", 7.5, "A"), "7.5")
        self.assertEqual(self.state(gw, rec, "1-0:32.7.0", 230.7, "V"), "230.7")
        self.assertEqual(self.state(gw, rec, "1-0:32.7.0", 231.0, "V"), "231")
        self.assertEqual(self.state(gw, rec, "1-0:1.8.0", 12345.67, "kWh"), "12345.67")
        self.assertEqual(self.state(gw, rec, "1-0:1.8.0", 12345.7, "kWh"), "12345.7")

    def test_a_water_meter_on_m_bus_is_water(self):
        # the real e-MUCS telegram: channel 2 is device type 7, water
        import json

        gw, rec = published()
        with open(DSMR + "emucs_fluvius_v171.txt", "rb") as f:
            gw.feed(f.read())
        configs = {t: json.loads(p) for t, p in rec.out if t.endswith("/config")}
        water = configs["homeassistant/sensor/gw/0_2_24_2_1/config"]
        self.assertEqual(water["device_class"], "water")
        gas = configs["homeassistant/sensor/gw/0_1_24_2_3/config"]
        self.assertEqual(gas["device_class"], "gas")

    def test_a_text_state_is_cut_to_what_home_assistant_keeps(self):
        gw, rec = published()
        self.assertEqual(len(self.state(gw, rec, "0-0:96.13.0", "x" * 400, None)), 255)

    def test_a_long_diagnosis_leaves_the_values_out(self):
        import json

        gw, rec = published()
        with open(DSMR + "emucs_fluvius_v171.txt", "rb") as f:
            telegram = f.read()
        whole = json.loads(gw.diagnose(telegram))
        short = gw.diagnose(telegram, 600)
        self.assertLessEqual(len(short), 600)
        short = json.loads(short)
        self.assertEqual(short["values"], {})
        self.assertEqual(short["values_left_out"], len(whole["values"]))
        self.assertEqual(short["errors"], whole["errors"])
