"""RFC 6587 framing: octet counting and LF, per frame, however the bytes are split across reads."""

from __future__ import annotations

from ingest.collectors.framing import Frame, FrameDecoder

RFC5424 = b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick"
RFC3164 = b"<13>Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping checking getaddrinfo for 173.234.31.186"


def octet(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


def decode_all(chunks: list[bytes], max_bytes: int = 1024) -> list[Frame]:
    decoder = FrameDecoder(max_bytes)
    frames = [frame for chunk in chunks for frame in decoder.feed(chunk)]
    return frames + decoder.close()


def test_octet_counted_frames_back_to_back() -> None:
    frames = decode_all([octet(RFC5424) + octet(RFC3164)])
    assert [f.data for f in frames] == [RFC5424, RFC3164]
    assert not any(f.cut for f in frames)


def test_newline_frames_with_lf_and_crlf() -> None:
    frames = decode_all([RFC3164 + b"\n" + RFC5424 + b"\r\n"])
    assert [f.data for f in frames] == [RFC3164, RFC5424]


def test_mixed_framing_on_one_connection_is_detected_per_frame() -> None:
    # A line that merely starts with a number is not a length: octet counting needs `<digits> <`.
    hdfs = b"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block terminating"
    stream = octet(RFC5424) + RFC3164 + b"\n" + hdfs + b"\n" + octet(RFC3164) + b"plain text\n"
    assert [f.data for f in decode_all([stream])] == [RFC5424, RFC3164, hdfs, RFC3164, b"plain text"]


def test_every_split_across_reads_gives_the_same_frames() -> None:
    stream = octet(RFC5424) + RFC3164 + b"\n" + octet(RFC3164) + octet(b"<1>twelve") + b"7 apples\n"
    expected = [RFC5424, RFC3164, RFC3164, b"<1>twelve", b"7 apples"]
    for cut in range(1, len(stream)):
        assert [f.data for f in decode_all([stream[:cut], stream[cut:]])] == expected, cut
    assert [f.data for f in decode_all([bytes([b]) for b in stream])] == expected


def test_octet_frame_larger_than_the_limit_keeps_its_head_and_skips_the_rest() -> None:
    big = b"<13>" + b"Z" * 5000
    frames = decode_all([octet(big)[:3000], octet(big)[3000:] + octet(RFC3164)], max_bytes=1024)
    assert [(len(f.data), f.size, f.cut) for f in frames] == [(1024, 5004, True), (len(RFC3164), len(RFC3164), False)]
    assert frames[0].data == big[:1024]


def test_line_larger_than_the_limit_is_cut_and_the_next_frame_survives() -> None:
    line = b"<13>" + b"Y" * 4000
    chunks = [line[:1500], line[1500:3000], line[3000:] + b"\n" + RFC3164 + b"\n"]
    frames = decode_all(chunks, max_bytes=1024)
    assert [(len(f.data), f.size) for f in frames] == [(1024, 4004), (len(RFC3164), len(RFC3164))]
    assert frames[0].data == line[:1024] and frames[1].data == RFC3164


def test_memory_stays_bounded_while_an_endless_line_arrives() -> None:
    decoder = FrameDecoder(1024)
    for _ in range(100):
        assert decoder.feed(b"X" * 10_000) == []
    assert len(decoder._buffer) == 0  # only the 1,024-byte head is kept
    assert [(len(f.data), f.size) for f in decoder.close()] == [(1024, 1_000_000)]


def test_close_emits_a_last_frame_without_terminator() -> None:
    assert [f.data for f in decode_all([RFC3164 + b"\n" + b"<13>last one"])] == [RFC3164, b"<13>last one"]
    truncated = octet(RFC5424)[:40]  # the sender died mid-frame: keep what arrived
    assert [f.data for f in decode_all([truncated])] == [truncated[truncated.index(b"<") :]]
