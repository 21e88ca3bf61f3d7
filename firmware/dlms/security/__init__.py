"""DLMS security (Green Book 9.2): AES-GCM and GMAC (suites 0 and 1), key wrap,
ciphered APDUs, HLS authentication, invocation counters and the security context."""
