import stat

from mmuspec.emulate import initramfs


def read_newc(data: bytes) -> list[tuple[str, int, bytes]]:
    """An independent reader of the newc format, to check the writer against."""
    out, pos = [], 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = data[name_start:name_start + namesize - 1].decode()
        body = name_start + namesize + (-(110 + namesize) % 4)
        content = data[body:body + size]
        pos = body + size + (-size % 4)
        if name == initramfs.TRAILER:
            assert len(data) % 4 == 0
            return out
        out.append((name, mode, content))


def test_parents_come_before_their_files_and_contents_round_trip() -> None:
    entries = [initramfs.file("bin/busybox", b"\x7fELF" * 3, executable=True),
               initramfs.file("init", b"#!/bin/sh\n", executable=True),
               initramfs.file("lib/modules/x.ko", b"k"),
               initramfs.symlink("bin/sh", "busybox")]
    got = read_newc(initramfs.archive(entries))
    assert [name for name, _, _ in got] == ["bin", "bin/busybox", "init", "lib", "lib/modules",
                                            "lib/modules/x.ko", "bin/sh"]
    by_name = {name: (mode, body) for name, mode, body in got}
    assert by_name["bin/busybox"] == (stat.S_IFREG | 0o755, b"\x7fELF" * 3)
    assert by_name["lib/modules/x.ko"] == (stat.S_IFREG | 0o644, b"k")
    assert stat.S_ISDIR(by_name["lib"][0])
    assert by_name["bin/sh"] == (stat.S_IFLNK | 0o777, b"busybox")


def test_the_same_entries_give_the_same_bytes() -> None:
    entries = [initramfs.file("init", b"x", executable=True)]
    assert initramfs.archive(entries) == initramfs.archive(list(entries))
