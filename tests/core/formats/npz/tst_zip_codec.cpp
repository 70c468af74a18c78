// Pure codec tests for the zip reader/writer and the npy header: no files involved.
#include <zlib.h>

#include "formats/npz/npy_header.h"
#include "formats/npz/zip_codec.h"
#include "tests/test_util.h"

using namespace ckpt;
using namespace ckpt::npz;

namespace {

std::span<const std::byte> asBytes(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

// An archive of stored entries built with our own writer codecs.
std::string buildArchive(const std::vector<std::pair<std::string, std::string>>& files,
                         std::uint64_t threshold = kZip64Limit) {
    std::string out;
    std::vector<ZipWriteEntry> entries;
    for (const auto& [name, data] : files) {
        ZipWriteEntry e;
        e.name = name;
        e.size = data.size();
        e.localHeaderOffset = out.size();
        e.zip64 = needsZip64(e.size, e.localHeaderOffset, threshold);
        e.crc32 = crc32Update(0, asBytes(data));
        out += encodeLocalHeader(e) + data + encodeDataDescriptor(e);
        entries.push_back(e);
    }
    return out + encodeCentralDirectory(entries, out.size(), threshold);
}

std::string deflate(const std::string& in) {
    z_stream zs{};
    deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::string out(in.size() + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

}  // namespace

class TestZipCodec : public QObject {
    Q_OBJECT
private slots:
    void roundTripsStoredEntries() {
        const std::string a =
            buildArchive({{"a.npy", "hello"}, {"dir/b.npy", std::string(300, 'x')}});
        auto entries = readZipDirectory(asBytes(a), "t.npz");
        CKPT_VERIFY_OK(entries);
        QCOMPARE(entries->size(), std::size_t{2});
        QCOMPARE((*entries)[1].name, std::string("dir/b.npy"));
        QCOMPARE((*entries)[0].uncompressedSize, std::uint64_t{5});
        QCOMPARE(a.substr((*entries)[0].dataOffset, 5), std::string("hello"));
        QCOMPARE((*entries)[1].crc32, crc32Update(0, asBytes(std::string(300, 'x'))));
    }
    void zip64PathWithForcedThreshold() {
        // Threshold 10: the 300-byte entry and every offset past 10 use zip64 fields, and the end
        // records go through the zip64 locator.
        const std::string a =
            buildArchive({{"a.npy", "hello"}, {"b.npy", std::string(300, 'y')}}, 10);
        QVERIFY(a.find("PK\x06\x06") != std::string::npos);
        QVERIFY(a.find("PK\x06\x07") != std::string::npos);
        auto entries = readZipDirectory(asBytes(a), "t.npz");
        CKPT_VERIFY_OK(entries);
        QCOMPARE((*entries)[1].uncompressedSize, std::uint64_t{300});
        QCOMPARE(a.substr((*entries)[1].dataOffset, 3), std::string("yyy"));
        QVERIFY((*entries)[1].localHeaderOffset > 10);
    }
    void rejectsUnsafeNames() {
        for (const char* name :
             {"../evil.npy", "/abs.npy", "a/../../b.npy", "a\\b.npy", "C:x.npy", "./a.npy"}) {
            const std::string a = buildArchive({{name, "x"}});
            auto r = readZipDirectory(asBytes(a), "t.npz");
            QVERIFY2(!r.isOk(), name);
            QCOMPARE(r.status().code(), StatusCode::kCorruption);
            QVERIFY(r.status().message().find("t.npz") != std::string::npos);
            QVERIFY2(r.status().message().find(name) != std::string::npos,
                     r.status().message().c_str());
        }
        QVERIFY(unsafeNameReason("params/Dense_0/kernel.npy").empty());
    }
    void rejectsEveryTruncation() {
        const std::string a = buildArchive({{"a.npy", "hello"}, {"b.npy", "world"}});
        for (std::size_t n = 0; n < a.size(); ++n) {
            auto r = readZipDirectory(asBytes(a.substr(0, n)), "t.npz");
            QVERIFY2(!r.isOk(), std::to_string(n).c_str());
        }
    }
    void rejectsEncryptedOtherMethodsOverlapAndPastEof() {
        const std::string good = buildArchive({{"a.npy", "hello"}, {"b.npy", "world"}});
        const std::size_t cd = good.find("PK\x01\x02");
        {
            std::string a = good;
            a[cd + 8] = 1;  // encrypted flag
            QCOMPARE(readZipDirectory(asBytes(a), "t").status().code(), StatusCode::kUnsupported);
        }
        {
            std::string a = good;
            a[cd + 10] = 12;  // bzip2
            QCOMPARE(readZipDirectory(asBytes(a), "t").status().code(), StatusCode::kUnsupported);
        }
        {
            std::string a = good;  // size past the entries' area
            a[cd + 20] = 100;
            a[cd + 24] = 100;
            auto r = readZipDirectory(asBytes(a), "t");
            QCOMPARE(r.status().code(), StatusCode::kCorruption);
            QVERIFY(r.status().message().find("'a.npy'") != std::string::npos);
        }
        {
            // Second entry's central record points at the first local header: overlap
            // (names differ, so the local-name check fires first) -> corruption either way.
            std::string a = good;
            const std::size_t cd2 = a.find("PK\x01\x02", cd + 4);
            a[cd2 + 42] = 0;
            a[cd2 + 43] = 0;
            QCOMPARE(readZipDirectory(asBytes(a), "t").status().code(), StatusCode::kCorruption);
        }
        {
            // Two central records with the same data but distinct names -> overlap.
            std::string a = buildArchive({{"a.npy", "hello"}, {"b.npy", "hello"}});
            const std::size_t c1 = a.find("PK\x01\x02");
            const std::size_t c2 = a.find("PK\x01\x02", c1 + 4);
            const std::size_t local2 = a.find("PK\x03\x04", 4);
            // Make the second local header sit inside the first entry's data.
            std::string shifted = a;
            const std::uint32_t off = 32;  // inside "a.npy"'s data region
            for (int i = 0; i < 4; ++i)
                shifted[c2 + 42 + static_cast<std::size_t>(i)] =
                    static_cast<char>((off >> (8 * i)) & 0xFF);
            (void)local2;
            (void)c1;
            QCOMPARE(readZipDirectory(asBytes(shifted), "t").status().code(),
                     StatusCode::kCorruption);
        }
    }
    void inflateChecksSizes() {
        const std::string plain(5000, 'q');
        const std::string z = deflate(plain);
        auto full = inflateRaw(asBytes(z), plain.size(), false, "w");
        CKPT_VERIFY_OK(full);
        QCOMPARE(full->size(), plain.size());
        auto pre = inflateRaw(asBytes(z), 10, true, "w");
        CKPT_VERIFY_OK(pre);
        QCOMPARE(pre->size(), std::size_t{10});
        QCOMPARE(inflateRaw(asBytes(z), 4000, false, "w").status().code(), StatusCode::kCorruption);
        QCOMPARE(inflateRaw(asBytes(z), 6000, false, "w").status().code(), StatusCode::kCorruption);
        QCOMPARE(inflateRaw(asBytes(z.substr(0, z.size() / 2)), 5000, false, "w").status().code(),
                 StatusCode::kCorruption);
    }
    void npyHeaderRoundTripAndStrictParse() {
        const std::string h = encodeNpyHeader(DType::kFloat32, {3, 4});
        QCOMPARE(h.size() % 64, std::size_t{0});
        QCOMPARE(h.back(), '\n');
        QVERIFY(h.find("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }") !=
                std::string::npos);
        auto p = parseNpyHeader(asBytes(h), "w");
        CKPT_VERIFY_OK(p);
        QCOMPARE(p->shape, (Shape{3, 4}));
        QCOMPARE(p->dtype, DType::kFloat32);
        QCOMPARE(p->headerBytes, std::uint64_t{h.size()});
        QVERIFY(encodeNpyHeader(DType::kInt8, {5}).find("(5,)") != std::string::npos);
        QVERIFY(encodeNpyHeader(DType::kBFloat16, {}).find("'|V2'") != std::string::npos);
        auto make = [](const std::string& dict) {
            std::string out("\x93NUMPY\x01\x00", 8);
            out.push_back(static_cast<char>(dict.size() & 0xFF));
            out.push_back(static_cast<char>(dict.size() >> 8));
            return out + dict;
        };
        auto be = parseNpyHeader(
            asBytes(make("{'descr': '>c16', 'fortran_order': True, 'shape': (2, 3)}\n")), "w");
        CKPT_VERIFY_OK(be);
        QVERIFY(be->bigEndian && be->fortranOrder);
        QCOMPARE(be->dtype, DType::kComplex128);
        const std::vector<std::pair<std::string, StatusCode>> bad = {
            {"{'descr': '<f4', 'fortran_order': False}\n", StatusCode::kCorruption},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n",
             StatusCode::kCorruption},
            {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }\n", StatusCode::kCorruption},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}\n",
             StatusCode::kCorruption},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } junk\n",
             StatusCode::kCorruption},
            {"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n",
             StatusCode::kUnsupported},
            {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n",
             StatusCode::kUnsupported},
            {"{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }\n",
             StatusCode::kUnsupported},
            {"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n",
             StatusCode::kCorruption},
        };
        for (const auto& [dict, code] : bad) {
            auto r = parseNpyHeader(asBytes(make(dict)), "arch: entry 'x.npy'");
            QVERIFY2(!r.isOk(), dict.c_str());
            QVERIFY2(r.status().code() == code, r.status().toString().c_str());
            QVERIFY(r.status().message().find("entry 'x.npy'") != std::string::npos);
        }
        std::string longLen("\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12);
        QCOMPARE(npyHeaderSize(asBytes(longLen), "w").status().code(), StatusCode::kCorruption);
    }
};

QTEST_GUILESS_MAIN(TestZipCodec)
#include "tst_zip_codec.moc"
