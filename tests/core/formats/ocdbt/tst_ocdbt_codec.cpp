// Pure decoding of real OCDBT bytes: the worked example of FORMATS.md 3.10, the primitive
// encodings, and truncation / byte-flip sweeps over every manifest and node of every fixture.
#include <zstd.h>

#include <set>

#include "formats/ocdbt/btree.h"
#include "formats/ocdbt/byte_reader.h"
#include "formats/ocdbt/crc32c.h"
#include "formats/ocdbt/data_file_table.h"
#include "formats/ocdbt/envelope.h"
#include "formats/ocdbt/manifest.h"
#include "formats/ocdbt/version_tree.h"
#include "ocdbt_test_util.h"
#include "tests/test_util.h"

using namespace ckpt;
using namespace ckpt::ocdbt;
using namespace ocdbt_test;

namespace {

std::vector<std::byte> bytesOf(std::initializer_list<int> v) {
    std::vector<std::byte> out;
    for (int x : v) out.push_back(static_cast<std::byte>(x));
    return out;
}

void append(std::vector<std::byte>& out, std::string_view s) {
    for (char c : s) out.push_back(static_cast<std::byte>(c));
}


const char* kDirect =
    "orbax-compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
    "pytree_checkpointable_has_metadata";

// Decodes `obj` as what it is; the Status of the attempt.
Status decodeObject(const EncodedObject& obj, std::span<const std::byte> bytes) {
    switch (obj.kind) {
        case EncodedObject::kManifest:
            return detail::toStatus(decodeManifest(bytes));
        case EncodedObject::kBtreeNode:
            return detail::toStatus(decodeBtreeNode(bytes, obj.transitivePath, obj.limits));
        case EncodedObject::kVersionNode:
            return detail::toStatus(decodeVersionTreeNode(bytes, obj.transitivePath, obj.limits));
    }
    return internalError("unknown kind");
}

std::uint32_t magicOf(const EncodedObject& obj) {
    switch (obj.kind) {
        case EncodedObject::kManifest:
            return kManifestMagic;
        case EncodedObject::kBtreeNode:
            return kBtreeNodeMagic;
        case EncodedObject::kVersionNode:
            return kVersionTreeNodeMagic;
    }
    return 0;
}

Status decodeBody(const EncodedObject& obj, std::span<const std::byte> body) {
    switch (obj.kind) {
        case EncodedObject::kManifest:
            return detail::toStatus(decodeManifestBody(body));
        case EncodedObject::kBtreeNode:
            return detail::toStatus(decodeBtreeNodeBody(body, obj.transitivePath, obj.limits));
        case EncodedObject::kVersionNode:
            return detail::toStatus(
                decodeVersionTreeNodeBody(body, obj.transitivePath, obj.limits));
    }
    return internalError("unknown kind");
}

}  // namespace

class TestOcdbtCodec : public QObject {
    Q_OBJECT
    fs::path m_fixtures;
    std::vector<fs::path> m_databases;  // shared fixtures and local data

private slots:
    void initTestCase() {
        const auto fx = sharedFixtures();
        QVERIFY2(fx.has_value(),
                 "CKPT_SHARED_FIXTURES is not set; run through ctest, or set it to the "
                 "shared/fixtures folder beside the repository");
        m_fixtures = *fx;
        QVERIFY2(fs::is_directory(m_fixtures / kDirect),
                 ("missing fixture " + (m_fixtures / kDirect).string()).c_str());
        m_databases = databasesUnder(m_fixtures);
        QVERIFY(m_databases.size() >= 80);
        for (const auto& db : databasesUnder(localData())) m_databases.push_back(db);
    }

    void varintsAcceptTenBytesAndRejectOverflow() {
        auto max = bytesOf({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01});
        ByteReader r(max);
        auto v = r.readVarint64("x");
        CKPT_VERIFY_OK(v);
        QCOMPARE(*v, ~std::uint64_t{0});
        QVERIFY(r.atEnd());

        auto overflow = bytesOf({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02});
        ByteReader r2(overflow);
        CKPT_VERIFY_ERROR(r2.readVarint64("x"), StatusCode::kCorruption);
        QCOMPARE(r2.position(), std::size_t{0});

        auto tooLong = bytesOf({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
        ByteReader r3(tooLong);
        CKPT_VERIFY_ERROR(r3.readVarint64("x"), StatusCode::kCorruption);

        auto overlong = bytesOf({0x81, 0x80, 0x00});  // non-canonical 1, accepted like riegeli
        ByteReader r4(overlong);
        auto one = r4.readVarint64("x");
        CKPT_VERIFY_OK(one);
        QCOMPARE(*one, std::uint64_t{1});

        auto truncated = bytesOf({0x80, 0x80});
        ByteReader r5(truncated);
        auto t = r5.readVarint64("value_length");
        CKPT_VERIFY_ERROR(t, StatusCode::kCorruption);
        QVERIFY(t.status().message().find("value_length at byte 0") != std::string::npos);
    }
    void narrowVarintsRejectValuesThatDoNotFit() {
        auto v32 = bytesOf({0xFF, 0xFF, 0xFF, 0xFF, 0x0F});
        ByteReader r(v32);
        auto ok = r.readVarint32("x");
        CKPT_VERIFY_OK(ok);
        QCOMPARE(*ok, 0xFFFFFFFFu);
        auto over32 = bytesOf({0xFF, 0xFF, 0xFF, 0xFF, 0x10});
        ByteReader r2(over32);
        CKPT_VERIFY_ERROR(r2.readVarint32("x"), StatusCode::kCorruption);
        auto v16 = bytesOf({0xFF, 0xFF, 0x03, 0x80, 0x80, 0x04});
        ByteReader r3(v16);
        auto max16 = r3.readVarint16("x");
        CKPT_VERIFY_OK(max16);
        QCOMPARE(*max16, std::uint16_t{65535});
        CKPT_VERIFY_ERROR(r3.readVarint16("x"), StatusCode::kCorruption);  // 65536
    }
    void fixedWidthIntegersHaveTheirByteOrder() {
        auto b =
            bytesOf({0x0C, 0xDB, 0x3A, 0x2A, 0x71, 0, 0, 0, 0, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF});
        ByteReader r(b);
        QCOMPARE(*r.readU32Be("magic"), kManifestMagic);
        QCOMPARE(*r.readU64Le("length"), std::uint64_t{113});
        QCOMPARE(*r.readI32Le("level"), -2);
        CKPT_VERIFY_ERROR(r.readU8("more"), StatusCode::kCorruption);
    }

    void decodesTheWorkedExampleManifest() {
        // FORMATS.md 3.10: the 113-byte merged manifest of the direct checkpoint.
        const auto bytes = readFile(m_fixtures / kDirect / "manifest.ocdbt");
        QCOMPARE(bytes.size(), std::size_t{113});
        auto env = decodeEnvelope(bytes, kManifestMagic, 1 << 20);
        CKPT_VERIFY_OK(env);
        QCOMPARE(env->header.magic, 0x0CDB3A2Au);
        QCOMPARE(env->header.length, std::uint64_t{113});
        QCOMPARE(env->header.version, 0u);
        QVERIFY(env->header.compression == EnvelopeCompression::kZstd);
        QCOMPARE(env->header.crc32c, 0xA3C9936Fu);
        QCOMPARE(env->body.size(), std::size_t{86});

        auto m = decodeManifest(bytes);
        CKPT_VERIFY_OK(m);
        const Config& c = m->config;
        QCOMPARE(c.uuidHex(), std::string("02332970f7c85c9b53731e740d635f15"));
        QVERIFY(c.manifestKind == ManifestKind::kSingle);
        QCOMPARE(c.maxInlineValueBytes, 1024u);
        QCOMPARE(c.maxDecodedNodeBytes, 100000000u);
        QCOMPARE(c.versionTreeArityLog2, std::uint8_t{4});
        QVERIFY(c.compression == CompressionMethod::kZstd);
        QCOMPARE(c.zstdLevel, 0);
        QCOMPARE(m->versions.size(), std::size_t{1});
        QVERIFY(m->versionTreeNodes.empty());
        const auto& v = m->versions[0];
        QCOMPARE(v.generationNumber, std::uint64_t{1});
        QCOMPARE(v.rootHeight, std::uint8_t{0});
        QCOMPARE(v.root.location.file->basePath, std::string());
        QCOMPARE(v.root.location.file->relativePath,
                 std::string("d/9f51d9b77c0c771353c577b65dc7bba5"));
        QCOMPARE(v.root.location.offset, std::uint64_t{0});
        QCOMPARE(v.root.location.length, std::uint64_t{240});
        QCOMPARE(v.root.statistics.numKeys, std::uint64_t{4});
        QCOMPARE(v.root.statistics.numTreeBytes, std::uint64_t{240});
        QCOMPARE(v.root.statistics.numIndirectValueBytes, std::uint64_t{0});
        QCOMPARE(v.commitTimeNs, std::uint64_t{0x18AF46E82923B7EEull});
    }
    void decodesTheWorkedExampleRootLeaf() {
        const auto bytes = readFile(m_fixtures / kDirect / "d/9f51d9b77c0c771353c577b65dc7bba5");
        QCOMPARE(bytes.size(), std::size_t{240});
        auto env = decodeEnvelope(bytes, kBtreeNodeMagic, 1 << 20);
        CKPT_VERIFY_OK(env);
        QCOMPARE(env->body.size(), std::size_t{432});
        auto node = decodeBtreeNode(bytes, "", DecodeLimits{});
        CKPT_VERIFY_OK(node);
        QCOMPARE(node->height, std::uint8_t{0});
        QCOMPARE(node->leafEntries.size(), std::size_t{4});
        const std::vector<std::string> keys = {"a/.zarray", "a/0", "b.c/.zarray", "b.c/0"};
        const std::vector<std::uint64_t> sizes = {164, 41, 164, 21};
        for (std::size_t i = 0; i < 4; ++i) {
            const auto& e = node->leafEntries[i];
            QCOMPARE(e.key, keys[i]);
            QVERIFY(e.isInline());
            QCOMPARE(e.valueSize(), sizes[i]);
        }
        const std::string& zarray = std::get<std::string>(node->leafEntries[0].value);
        QCOMPARE(zarray.substr(0, 11), std::string("{\"chunks\":["));
        const std::string& chunk = std::get<std::string>(node->leafEntries[1].value);
        QCOMPARE(chunk.substr(0, 4), std::string("\x28\xb5\x2f\xfd"));  // a zstd frame
    }

    void envelopeRejectsWrongMagicLengthAndChecksum() {
        std::vector<std::byte> body = bytesOf({1, 2, 3});
        auto good = wrapUncompressed(kBtreeNodeMagic, body);
        auto env = decodeEnvelope(good, kBtreeNodeMagic, 100);
        CKPT_VERIFY_OK(env);
        QVERIFY(env->body == body);

        auto r = decodeEnvelope(good, kManifestMagic, 100);
        CKPT_VERIFY_ERROR(r, StatusCode::kCorruption);
        QVERIFY(r.status().message().find("magic") != std::string::npos);

        auto longer = good;
        longer.push_back(std::byte{0});
        r = decodeEnvelope(longer, kBtreeNodeMagic, 100);
        CKPT_VERIFY_ERROR(r, StatusCode::kCorruption);
        QVERIFY(r.status().message().find("length") != std::string::npos);

        auto flipped = good;
        flipped[15] ^= std::byte{0x40};
        r = decodeEnvelope(flipped, kBtreeNodeMagic, 100);
        CKPT_VERIFY_ERROR(r, StatusCode::kCorruption);
        QVERIFY(r.status().message().find("CRC-32C") != std::string::npos);

        CKPT_VERIFY_ERROR(decodeEnvelope(good, kBtreeNodeMagic, 2), StatusCode::kCorruption);
    }
    void zstdRefusesBodiesOverTheLimit() {
        std::vector<std::byte> zeros(1 << 20, std::byte{0});
        std::vector<std::byte> frame(ZSTD_compressBound(zeros.size()));
        frame.resize(ZSTD_compress(frame.data(), frame.size(), zeros.data(), zeros.size(), 1));
        CKPT_VERIFY_OK(zstdDecompressBounded(frame, 1 << 20));
        auto r = zstdDecompressBounded(frame, 1000);
        CKPT_VERIFY_ERROR(r, StatusCode::kCorruption);
        QVERIFY(r.status().message().find("declares") != std::string::npos);

        // A streamed frame carries no content size: the limit must hold while decoding.
        ZSTD_CCtx* cctx = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
        std::vector<std::byte> streamed(ZSTD_compressBound(zeros.size()) + 64);
        ZSTD_outBuffer out{streamed.data(), streamed.size(), 0};
        ZSTD_inBuffer in{zeros.data(), zeros.size(), 0};
        while (ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_end) != 0) {
        }
        ZSTD_freeCCtx(cctx);
        streamed.resize(out.pos);
        QCOMPARE(ZSTD_getFrameContentSize(streamed.data(), streamed.size()),
                 ZSTD_CONTENTSIZE_UNKNOWN);
        auto whole = zstdDecompressBounded(streamed, 1 << 20);
        CKPT_VERIFY_OK(whole);
        QVERIFY(*whole == zeros);
        r = zstdDecompressBounded(streamed, (1 << 20) - 1);
        CKPT_VERIFY_ERROR(r, StatusCode::kCorruption);
        QVERIFY(r.status().message().find("exceeds") != std::string::npos);

        auto trailing = frame;
        trailing.push_back(std::byte{0});
        CKPT_VERIFY_ERROR(zstdDecompressBounded(trailing, 1 << 20), StatusCode::kCorruption);
        auto cut = frame;
        cut.pop_back();
        CKPT_VERIFY_ERROR(zstdDecompressBounded(cut, 1 << 20), StatusCode::kCorruption);
    }

    void dataFileTableExpandsPrefixesAndBasePaths() {
        // Synthetic table (made per the format): ("p0/", "d/aaa"), ("p0/", "d/abb"), ("p1/", "d/x")
        // read through a node reached with transitive path "t/".
        std::vector<std::byte> b = bytesOf({3, /*prefix*/ 6, 1, /*suffix*/ 8, 2, 5,
                                            /*base*/ 3, 3, 3});
        append(b, "p0/d/aaa");
        append(b, "bb");
        append(b, "1/d/x");
        ByteReader r(b);
        ExpansionBudget budget(1 << 20);
        auto t = decodeDataFileTable(r, "t/", budget);
        CKPT_VERIFY_OK(t);
        QVERIFY(r.atEnd());
        QCOMPARE(t->size(), std::size_t{3});
        QCOMPARE((*t)[0]->basePath, std::string("t/p0/"));
        QCOMPARE((*t)[0]->relativePath, std::string("d/aaa"));
        QCOMPARE((*t)[1]->basePath, std::string("t/p0/"));
        QCOMPARE((*t)[1]->relativePath, std::string("d/abb"));
        QCOMPARE((*t)[2]->basePath, std::string("t/p1/"));
        QCOMPARE((*t)[2]->relativePath, std::string("d/x"));
        QCOMPARE((*t)[2]->fullPath(), std::string("t/p1/d/x"));
    }
    void dataFileTableRejectsInconsistentLengths() {
        // Prefix runs into the relative path although base paths differ in length.
        std::vector<std::byte> b = bytesOf({2, 4, 5, 1, 3, 2});
        append(b, "p0/d/");
        append(b, "x");
        ByteReader r(b);
        ExpansionBudget budget(1 << 20);
        CKPT_VERIFY_ERROR(decodeDataFileTable(r, "", budget), StatusCode::kCorruption);

        // Base path longer than the path.
        std::vector<std::byte> b2 = bytesOf({1, 2, 3});
        append(b2, "ab");
        ByteReader r2(b2);
        CKPT_VERIFY_ERROR(decodeDataFileTable(r2, "", budget), StatusCode::kCorruption);

        // A huge file count in a few bytes fails before allocating.
        std::vector<std::byte> b3 = bytesOf({0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0, 0});
        ByteReader r3(b3);
        CKPT_VERIFY_ERROR(decodeDataFileTable(r3, "", budget), StatusCode::kCorruption);

        // Prefix expansion is charged to the budget: 200 files repeating a 65000-byte path.
        std::vector<std::byte> b4 = bytesOf({0xC8, 0x01});
        for (int i = 1; i < 200; ++i) append(b4, std::string("\xE8\xFB\x03", 3));  // 65000
        append(b4, std::string("\xE8\xFB\x03", 3));
        for (int i = 1; i < 200; ++i) b4.push_back(std::byte{0});
        for (int i = 0; i < 200; ++i) b4.push_back(std::byte{0});
        append(b4, std::string(65000, 'x'));
        ByteReader r4(b4);
        ExpansionBudget small(1 << 20);
        auto bomb = decodeDataFileTable(r4, "", small);
        CKPT_VERIFY_ERROR(bomb, StatusCode::kCorruption);
        QVERIFY(bomb.status().message().find("limit") != std::string::npos);
    }

    void btreeNodeRejectsHostileCounts() {
        // Leaf with 2^20 entries declared in a handful of bytes.
        auto body = bytesOf({0, 0, 0x80, 0x80, 0x40, 1, 2, 3});
        CKPT_VERIFY_ERROR(decodeBtreeNodeBody(body, "", DecodeLimits{}), StatusCode::kCorruption);
        // Arity above the maximum.
        auto big = bytesOf({0, 0, 0x81, 0x80, 0x40});
        auto r = decodeBtreeNodeBody(big, "", DecodeLimits{});
        CKPT_VERIFY_ERROR(r, StatusCode::kCorruption);
        // No entries.
        CKPT_VERIFY_ERROR(decodeBtreeNodeBody(bytesOf({0, 0, 0}), "", DecodeLimits{}),
                          StatusCode::kCorruption);
    }
    void btreeNodeRejectsUnorderedKeysAndBadValueKinds() {
        // Synthetic leaves: keys "b", "a" (out of order); then "a", "b" with value_kind 2.
        auto unordered = bytesOf({0, 0, 2, /*prefix*/ 0, /*suffix*/ 1, 1, 'b', 'a',
                                  /*len*/ 0, 0, /*kind*/ 0, 0});
        auto r = decodeBtreeNodeBody(unordered, "", DecodeLimits{});
        CKPT_VERIFY_ERROR(r, StatusCode::kCorruption);
        QVERIFY(r.status().message().find("increasing") != std::string::npos);

        auto badKind = bytesOf({0, 0, 2, 0, 1, 1, 'a', 'b', 0, 0, 0, 2});
        CKPT_VERIFY_ERROR(decodeBtreeNodeBody(badKind, "", DecodeLimits{}),
                          StatusCode::kCorruption);

        auto good = bytesOf({0, 0, 2, 0, 1, 1, 'a', 'b', 1, 0, 0, 0, 'v'});
        auto node = decodeBtreeNodeBody(good, "", DecodeLimits{});
        CKPT_VERIFY_OK(node);
        QCOMPARE(std::get<std::string>(node->leafEntries[0].value), std::string("v"));
        QCOMPARE(std::get<std::string>(node->leafEntries[1].value), std::string());

        // Indirect value whose file index is outside the (empty) table.
        auto badIndex = bytesOf({0, 0, 1, 1, 'a', 5, 1, 0, 0});
        CKPT_VERIFY_ERROR(decodeBtreeNodeBody(badIndex, "", DecodeLimits{}),
                          StatusCode::kCorruption);
        // Offset + length overflowing 64 bits.
        auto overflow = bytesOf({0,    1,    1,    0,    0,    1,    1,    'a',  5,    1,   0,
                                 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01});
        r = decodeBtreeNodeBody(overflow, "", DecodeLimits{});
        CKPT_VERIFY_ERROR(r, StatusCode::kCorruption);
        QVERIFY(r.status().message().find("overflow") != std::string::npos);
    }
    void btreeKeyExpansionIsBounded() {
        // 60000 leaf entries, each repeating 65000 bytes of the previous key plus two bytes:
        // about 3.9 GB of keys from ~400 kB of input.
        const int n = 60000;
        std::vector<std::byte> b = bytesOf({0, 0, 0xE0, 0xD4, 0x03});  // height, table, n
        for (int i = 1; i < n; ++i) append(b, std::string("\xE8\xFB\x03", 3));
        append(b, std::string("\xEA\xFB\x03", 3));  // first key: 65002 bytes
        for (int i = 1; i < n; ++i) b.push_back(std::byte{2});
        append(b, std::string(65000, 'k'));
        for (int i = 0; i < n; ++i) {  // two-byte suffixes keep the keys increasing
            b.push_back(static_cast<std::byte>(i >> 8));
            b.push_back(static_cast<std::byte>(i & 0xFF));
        }
        auto r = decodeBtreeNodeBody(b, "", DecodeLimits{64 << 20});
        CKPT_VERIFY_ERROR(r, StatusCode::kCorruption);
        QVERIFY(r.status().message().find("limit") != std::string::npos);
    }

    void decodesEveryFixtureDatabase() {
        int nodes = 0;
        for (const auto& db : m_databases) {
            const auto objects = encodedObjects(db);
            QVERIFY2(!objects.empty(), db.string().c_str());
            for (const auto& obj : objects) {
                const Status s = decodeObject(obj, obj.bytes);
                QVERIFY2(s.isOk(), (db.string() + " " + obj.name + ": " + s.toString()).c_str());
                nodes += obj.kind != EncodedObject::kManifest;
            }
        }
        QVERIFY(nodes >= 100);
    }
    void everyTruncationIsCorruption() {
        std::size_t checked = 0;
        for (const auto& db : m_databases) {
            for (const auto& obj : encodedObjects(db)) {
                const std::span<const std::byte> all(obj.bytes);
                for (std::size_t n = 0; n < all.size(); ++n) {
                    const Status s = decodeObject(obj, all.first(n));
                    QVERIFY2(
                        s.code() == StatusCode::kCorruption,
                        (obj.name + " cut to " + std::to_string(n) + ": " + s.toString()).c_str());
                    ++checked;
                }
                // Inside the envelope: the body parsers see every truncation too.
                auto env = decodeEnvelope(obj.bytes, magicOf(obj), kHardMaxDecodedBytes);
                CKPT_VERIFY_OK(env);
                const std::span<const std::byte> body(env->body);
                for (std::size_t n = 0; n < body.size(); ++n) {
                    const Status s = decodeBody(obj, body.first(n));
                    QVERIFY2(s.isOk() || s.code() == StatusCode::kCorruption,
                             (obj.name + " body cut to " + std::to_string(n) + ": " + s.toString())
                                 .c_str());
                }
            }
        }
        QVERIFY(checked > 10000);
    }
    void everyByteFlipIsCorruptionOrStillDecodes() {
        std::size_t bodyOk = 0, bodyBad = 0;
        for (const auto& db : m_databases) {
            for (const auto& obj : encodedObjects(db)) {
                auto bytes = obj.bytes;
                for (std::size_t i = 0; i < bytes.size(); ++i) {
                    bytes[i] ^= std::byte{0x01};
                    const Status s = decodeObject(obj, bytes);
                    bytes[i] ^= std::byte{0x01};
                    // The CRC covers every byte but itself; a flipped CRC byte fails too.
                    QVERIFY2(
                        s.code() == StatusCode::kCorruption,
                        (obj.name + " flip at " + std::to_string(i) + ": " + s.toString()).c_str());
                }
                auto env = decodeEnvelope(obj.bytes, magicOf(obj), kHardMaxDecodedBytes);
                CKPT_VERIFY_OK(env);
                auto body = env->body;
                for (std::size_t i = 0; i < body.size(); ++i) {
                    for (int mask : {0x01, 0x80, 0xFF}) {
                        body[i] ^= static_cast<std::byte>(mask);
                        const Status s = decodeBody(obj, body);
                        body[i] ^= static_cast<std::byte>(mask);
                        QVERIFY2(
                            s.isOk() || s.code() == StatusCode::kCorruption,
                            (obj.name + " body flip at " + std::to_string(i) + ": " + s.toString())
                                .c_str());
                        (s.isOk() ? bodyOk : bodyBad)++;
                    }
                }
            }
        }
        // Both outcomes occur: flips inside values decode, flips in structure do not.
        QVERIFY(bodyOk > 0);
        QVERIFY(bodyBad > 0);
    }
};

QTEST_GUILESS_MAIN(TestOcdbtCodec)
#include "tst_ocdbt_codec.moc"
