// The hdf5 format: writer layout round trips, reading foreign layouts (made here with the HDF5 C
// API), slices, the zstd filter's bounds and hostile files.
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"
#include "formats/hdf5/hdf5_format.h"
#include "formats/hdf5/hdf5_lib.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

NodePtr patternArray(DType dtype, Shape shape, unsigned seed) {
    auto a = Array::allocate(dtype, std::move(shape)).value();
    std::mt19937 rng(seed);
    for (auto& b : a.bytes()) b = static_cast<std::byte>(rng());
    if (dtype == DType::kBool) {
        for (auto& b : a.bytes()) b = static_cast<std::byte>(static_cast<unsigned>(b) & 1U);
    }
    return Node::makeArray(makeMemorySource(std::move(a)));
}

// Empty when equal, else where and how they differ.
std::string diff(const Node& a, const Node& b, const std::string& path = "<root>") {
    if (a.kind() != b.kind()) {
        return path + ": kind " + std::string(nodeKindName(a.kind())) + " vs " +
               std::string(nodeKindName(b.kind()));
    }
    if (a.isContainer()) {
        if (a.childCount() != b.childCount()) return path + ": child count";
        for (std::size_t i = 0; i < a.childCount(); ++i) {
            if (a.childKey(i) != b.childKey(i)) {
                return path + ": key '" + a.childKey(i) + "' vs '" + b.childKey(i) + "'";
            }
            auto d = diff(*a.child(i), *b.child(i), path + "/" + a.childKey(i));
            if (!d.empty()) return d;
        }
        return {};
    }
    switch (a.kind()) {
        case NodeKind::kArray: {
            if (a.array()->dtype() != b.array()->dtype()) return path + ": dtype";
            if (a.array()->shape() != b.array()->shape()) return path + ": shape";
            auto x = a.array()->readAll();
            auto y = b.array()->readAll();
            if (!x.isOk() || !y.isOk())
                return path + ": read " + x.status().toString() + y.status().toString();
            if (x->byteSize() != y->byteSize() ||
                !std::equal(x->bytes().begin(), x->bytes().end(), y->bytes().begin())) {
                return path + ": bytes differ";
            }
            return {};
        }
        case NodeKind::kScalar: {
            auto x = a.loadScalar();
            auto y = b.loadScalar();
            if (!x.isOk() || !y.isOk()) return path + ": scalar read";
            if (x->dtype() != y->dtype()) return path + ": scalar dtype";
            if (x->isNative() != y->isNative()) return path + ": native flag";
            if (std::memcmp(x->bits().data(), y->bits().data(), x->bits().size()) != 0)
                return path + ": bits";
            return {};
        }
        case NodeKind::kString:
        case NodeKind::kBytes:
            return a.text() == b.text() ? std::string() : path + ": text";
        default:
            return {};
    }
}

NodePtr everyKindTree() {
    std::vector<DictEntry> arrays;
    std::vector<DictEntry> scalars;
    unsigned seed = 1;
    for (const auto& info : allDTypes()) {
        const std::string n(info.name);
        arrays.push_back({n, patternArray(info.dtype, {2, 3}, seed++)});
        arrays.push_back({n + "_0d", patternArray(info.dtype, {}, seed++)});
        arrays.push_back({n + "_empty", patternArray(info.dtype, {0, 3}, seed++)});
        std::vector<std::byte> bits(info.itemSize);
        std::mt19937 rng(seed++);
        for (auto& b : bits) b = static_cast<std::byte>(rng());
        if (info.dtype == DType::kBool) bits[0] = std::byte{1};
        scalars.push_back({n, Node::makeScalar(Scalar::fromBits(info.dtype, bits, false).value())});
    }
    scalars.push_back({"py_int", Node::makeScalar(Scalar::fromInt64(-7))});
    scalars.push_back({"py_float", Node::makeScalar(Scalar::fromFloat64(0.1))});
    scalars.push_back({"py_bool", Node::makeScalar(Scalar::fromBool(false))});
    scalars.push_back({"py_complex", Node::makeScalar(Scalar::fromComplex128({1.5, -2}))});
    return Node::makeDict({
        {"arrays", Node::makeDict(std::move(arrays))},
        {"scalars", Node::makeDict(std::move(scalars))},
        {"list", Node::makeList({Node::makeNone(), Node::makeString("x"), Node::makeList({})})},
        {"tuple",
         Node::makeTuple({Node::makeBytes(std::string("\0\1\xff", 3)), Node::makeTuple({})})},
        {"strings", Node::makeDict({{"empty", Node::makeString("")},
                                    {"utf8", Node::makeString("h\xc3\xa9llo \xe2\x9c\x93")},
                                    {"nul", Node::makeString(std::string("a\0b", 3))}})},
        {"bytes_empty", Node::makeBytes("")},
        {"none", Node::makeNone()},
        {"empty_dict", Node::makeDict({})},
        {"demo", makeDemoTrainState()},
    });
}

Result<NodePtr> roundTrip(const NodePtr& tree, const fs::path& file, const WriteOptions& o = {}) {
    CKPT_RETURN_IF_ERROR(writeCheckpoint(tree, file, "hdf5", o));
    CKPT_ASSIGN_OR_RETURN(Checkpoint c, openCheckpoint(file));
    if (c.format != "hdf5") return internalError("detected as " + c.format);
    return c.tree;
}

// A source that makes its values on demand and records the largest read.
class SyntheticSource final : public ArraySource {
public:
    explicit SyntheticSource(Shape shape) : m_shape(std::move(shape)) {}
    DType dtype() const override { return DType::kUInt32; }
    const Shape& shape() const override { return m_shape; }
    Shape chunkShape() const override { return {1, m_shape[1]}; }
    Status readInto(const Selection& sel, std::span<std::byte> out,
                    const CancelToken*) const override {
        m_maxRead = std::max<std::uint64_t>(m_maxRead, out.size());
        m_total += out.size();
        std::size_t pos = 0;
        for (std::int64_t r = 0; r < sel.count[0]; ++r) {
            for (std::int64_t c = 0; c < sel.count[1]; ++c) {
                const auto v =
                    static_cast<std::uint32_t>((sel.start[0] + r) * m_shape[1] + sel.start[1] + c);
                std::memcpy(out.data() + pos, &v, 4);
                pos += 4;
            }
        }
        return okStatus();
    }
    mutable std::uint64_t m_maxRead = 0;
    mutable std::uint64_t m_total = 0;

private:
    Shape m_shape;
};

// Writes `file` with the HDF5 C API in layouts our writer never produces.
void writeForeignFile(const fs::path& file) {
    auto lock = hdf5::lockHdf5();
    hid_t f = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t three = 3;
    hid_t s3 = H5Screate_simple(1, &three, nullptr);
    hid_t scalar = H5Screate(H5S_SCALAR);
    // name order (no creation order tracked): "b_be_int" before "c_be_f64" before ...
    const std::int32_t ints[3] = {1, -2, 0x01020304};
    hid_t d = H5Dcreate2(f, "c_be_int", H5T_STD_I32BE, s3, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, ints);
    H5Dclose(d);
    const double dbl[3] = {0.5, -1e300, 3.0};
    d = H5Dcreate2(f, "b_be_f64", H5T_IEEE_F64BE, s3, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, dbl);
    // attributes: int array, double scalar, fixed string
    hid_t a = H5Acreate2(d, "units", H5T_STD_I16LE, s3, H5P_DEFAULT, H5P_DEFAULT);
    const std::int16_t av[3] = {7, 8, 9};
    H5Awrite(a, H5T_NATIVE_INT16, av);
    H5Aclose(a);
    a = H5Acreate2(d, "scale", H5T_IEEE_F64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
    const double sc = 0.25;
    H5Awrite(a, H5T_NATIVE_DOUBLE, &sc);
    H5Aclose(a);
    hid_t fixed = H5Tcopy(H5T_C_S1);
    H5Tset_size(fixed, 5);
    H5Tset_strpad(fixed, H5T_STR_NULLPAD);
    a = H5Acreate2(d, "name", fixed, scalar, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, fixed, "abc\0\0");
    H5Aclose(a);
    H5Dclose(d);
    // fixed-length string array
    d = H5Dcreate2(f, "d_fixed_strings", fixed, s3, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, fixed, H5S_ALL, H5S_ALL, H5P_DEFAULT, "one\0\0two\0\0three");
    H5Dclose(d);
    H5Tclose(fixed);
    // unsupported: a compound other than complex, and a vlen int sequence
    hid_t comp = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(comp, "a", 0, H5T_NATIVE_INT32);
    H5Tinsert(comp, "b", 4, H5T_NATIVE_FLOAT);
    d = H5Dcreate2(f, "e_compound", comp, scalar, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Tclose(comp);
    hid_t vl = H5Tvlen_create(H5T_NATIVE_INT);
    d = H5Dcreate2(f, "f_vlen", vl, s3, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Tclose(vl);
    // links: soft (followed), dangling soft, external (never followed)
    hid_t g = H5Gcreate2(f, "a_group", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_soft("/c_be_int", g, "soft", H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_soft("/nowhere", g, "dangling", H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_external("/etc/passwd", "/x", g, "external", H5P_DEFAULT, H5P_DEFAULT);
    // a hard link back to the root: a cycle
    H5Lcreate_hard(f, "/", g, "loop", H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    // a chunked dataset with no chunk ever written: reads as the fill value
    hsize_t four = 4, two = 2;
    hid_t s4 = H5Screate_simple(1, &four, nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &two);
    d = H5Dcreate2(f, "g_unwritten", H5T_STD_I8LE, s4, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s4);
    H5Sclose(s3);
    H5Sclose(scalar);
    H5Fclose(f);
}

std::vector<char> readFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}
void writeFile(const fs::path& p, const std::vector<char>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Opens `file` and reads every array; returns the first error (never crashes).
Status openAndReadAll(const fs::path& file) {
    CKPT_ASSIGN_OR_RETURN(Checkpoint c, openCheckpoint(file, {}, "hdf5"));
    Status first;
    walkTree(c.tree, [&](const KeyPath&, const Node& n) {
        if (n.kind() == NodeKind::kArray && first.isOk()) {
            // A damaged shape may claim gigabytes (of unallocated chunks): read one element then.
            const ArraySource& a = *n.array();
            if (a.byteSize() <= (64U << 20)) {
                first = a.readAll().status();
            } else {
                first = a.read(Selection{Shape(a.shape().size(), 0), Shape(a.shape().size(), 1)})
                            .status();
            }
        }
        if (n.kind() == NodeKind::kNone && !n.attributes().empty() &&
            n.attributes().front().first == "error" && first.isOk()) {
            first = corruptionError(n.attributes().front().second);
        }
        return true;
    });
    return first;
}

}  // namespace

class TestHdf5Format : public QObject {
    Q_OBJECT
private slots:
    void roundTripsEveryNodeKindAndDType() {
        test::TempDir dir;
        const NodePtr tree = everyKindTree();
        auto back = roundTrip(tree, dir.path() / "all.h5");
        CKPT_VERIFY_OK(back);
        const std::string d = diff(*tree, **back);
        QVERIFY2(d.empty(), d.c_str());
        // The same with gzip and with no compression.
        for (const char* comp : {"gzip", "none"}) {
            WriteOptions o;
            o.hdf5Compression = comp;
            auto again = roundTrip(tree, dir.path() / (std::string(comp) + ".h5"), o);
            CKPT_VERIFY_OK(again);
            QVERIFY2(diff(*tree, **again).empty(), diff(*tree, **again).c_str());
        }
        WriteOptions bad;
        bad.hdf5Compression = "lzma";
        CKPT_VERIFY_ERROR(writeCheckpoint(tree, dir.path() / "bad.h5", "hdf5", bad),
                          StatusCode::kInvalidArgument);
        QVERIFY(!fs::exists(dir.path() / "bad.h5"));
    }
    void roundTripsLeafAndSequenceRoots() {
        test::TempDir dir;
        for (const NodePtr& root : {patternArray(DType::kBFloat16, {3}, 5), Node::makeString("s"),
                                    Node::makeNone(), Node::makeList({Node::makeNone()}),
                                    Node::makeTuple({}), Node::makeScalar(Scalar::fromInt64(3))}) {
            const fs::path file = dir.path() / (std::string(nodeKindName(root->kind())) + ".h5");
            if (fs::exists(file)) fs::remove(file);
            auto back = roundTrip(root, file);
            CKPT_VERIFY_OK(back);
            QVERIFY2(diff(*root, **back).empty(), diff(*root, **back).c_str());
        }
    }
    void escapesKeysThatAreNotLinkNames() {
        using hdf5::linkNameForKey;
        QCOMPARE(linkNameForKey("kernel"), std::string("kernel"));
        QCOMPARE(linkNameForKey("a/b"), std::string("a%2Fb"));
        QCOMPARE(linkNameForKey("."), std::string("%2E"));
        QCOMPARE(linkNameForKey(""), std::string("%"));
        QCOMPARE(linkNameForKey("%"), std::string("%25"));
        QCOMPARE(linkNameForKey("a%2Fb"), std::string("a%252Fb"));
        QCOMPARE(linkNameForKey(std::string("n\0l", 3)), std::string("n%00l"));
        QCOMPARE(linkNameForKey(".."), std::string(".."));
        test::TempDir dir;
        std::vector<DictEntry> entries;
        for (std::string k :
             {"a/b", "a%2Fb", ".", "", "%", "..", "sp ace", "\xc3\xbcn\xc3\xaf", "/", "//x"}) {
            entries.push_back({k, Node::makeString("v:" + k)});
        }
        entries.push_back({std::string("n\0l", 3), Node::makeDict({{"/", Node::makeNone()}})});
        const NodePtr tree = Node::makeDict(std::move(entries));
        auto back = roundTrip(tree, dir.path() / "keys.h5");
        CKPT_VERIFY_OK(back);
        QVERIFY2(diff(*tree, **back).empty(), diff(*tree, **back).c_str());
    }
    void keepsDictOrderAndReadsForeignGroupsInNameOrder() {
        test::TempDir dir;
        const NodePtr tree = Node::makeDict(
            {{"zeta", Node::makeNone()},
             {"alpha", Node::makeDict({{"z", Node::makeNone()}, {"a", Node::makeNone()}})},
             {"mid", Node::makeNone()}});
        auto back = roundTrip(tree, dir.path() / "order.h5");
        CKPT_VERIFY_OK(back);
        QCOMPARE((*back)->childKey(0), std::string("zeta"));
        QCOMPARE((*back)->childKey(1), std::string("alpha"));
        QCOMPARE((*back)->child(1)->childKey(0), std::string("z"));
        QVERIFY(diff(*tree, **back).empty());
        // A file without creation-order tracking lists children by name, as h5py does.
        writeForeignFile(dir.path() / "foreign.h5");
        auto c = openCheckpoint(dir.path() / "foreign.h5");
        CKPT_VERIFY_OK(c);
        std::vector<std::string> keys;
        for (std::size_t i = 0; i < c->tree->childCount(); ++i)
            keys.push_back(c->tree->childKey(i));
        QCOMPARE(keys,
                 (std::vector<std::string>{"a_group", "b_be_f64", "c_be_int", "d_fixed_strings",
                                           "e_compound", "f_vlen", "g_unwritten"}));
    }
    void readsForeignTypesLinksAndAttributes() {
        test::TempDir dir;
        const fs::path file = dir.path() / "foreign.h5";
        writeForeignFile(file);
        auto c = openCheckpoint(file);
        CKPT_VERIFY_OK(c);
        const NodePtr& t = c->tree;
        // big-endian datasets come back little-endian
        auto ints = t->findChild("c_be_int")->array()->readAll();
        CKPT_VERIFY_OK(ints);
        QCOMPARE(ints->dtype(), DType::kInt32);
        std::int32_t iv[3];
        std::memcpy(iv, ints->bytes().data(), 12);
        QCOMPARE(iv[2], 0x01020304);
        QCOMPARE(iv[1], -2);
        const NodePtr f64 = t->findChild("b_be_f64");
        auto dbl = f64->array()->readAll();
        CKPT_VERIFY_OK(dbl);
        QCOMPARE(dbl->toDouble(1), -1e300);
        // attributes as text, in name order
        const std::vector<std::pair<std::string, std::string>> attrs = {
            {"name", "abc"}, {"scale", "0.25"}, {"units", "[7, 8, 9]"}};
        QCOMPARE(f64->attributes(), attrs);
        // fixed-length strings
        const NodePtr strs = t->findChild("d_fixed_strings");
        QCOMPARE(strs->kind(), NodeKind::kList);
        QCOMPARE(strs->child(2)->text(), std::string("three"));
        QCOMPARE(strs->child(0)->text(), std::string("one"));
        // unsupported types and links: None with an error naming the file and key path
        for (const char* key : {"e_compound", "f_vlen"}) {
            const NodePtr n = t->findChild(key);
            QCOMPARE(n->kind(), NodeKind::kNone);
            QCOMPARE(n->attributes().at(0).first, std::string("error"));
            QVERIFY2(n->attributes()[0].second.find(file.string()) != std::string::npos,
                     n->attributes()[0].second.c_str());
            QVERIFY2(n->attributes()[0].second.find(key) != std::string::npos,
                     n->attributes()[0].second.c_str());
        }
        const NodePtr g = t->findChild("a_group");
        QCOMPARE(g->findChild("soft")->kind(), NodeKind::kArray);  // soft link followed
        for (const char* key : {"dangling", "external", "loop"}) {
            const NodePtr n = g->findChild(key);
            QVERIFY2(n && n->kind() == NodeKind::kNone && !n->attributes().empty(), key);
            QVERIFY2(
                n->attributes()[0].second.find("a_group/" + std::string(key)) != std::string::npos,
                n->attributes()[0].second.c_str());
        }
        QVERIFY(g->findChild("external")->attributes()[0].second.find("/etc/passwd") !=
                std::string::npos);
        QVERIFY(c->warnings.size() >= 5);
        // unwritten chunks read as the fill value (0), as in h5py
        auto un = t->findChild("g_unwritten")->array()->readAll();
        CKPT_VERIFY_OK(un);
        QCOMPARE(un->byteSize(), std::size_t{4});
        QCOMPARE(std::count(un->bytes().begin(), un->bytes().end(), std::byte{0}),
                 std::ptrdiff_t{4});
    }
    void probesSignatureAfterAUserBlock() {
        test::TempDir dir;
        const fs::path file = dir.path() / "with_user_block.bin";  // no telling extension
        {
            auto lock = hdf5::lockHdf5();
            hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
            H5Pset_userblock(fcpl, 1024);
            hid_t f = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
            H5Gclose(H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
            H5Fclose(f);
            H5Pclose(fcpl);
        }
        const FormatReader* reader = FormatRegistry::builtin().reader("hdf5");
        QVERIFY(reader != nullptr);
        QCOMPARE(reader->probe(file), 80);
        auto c = openCheckpoint(file);
        CKPT_VERIFY_OK(c);
        QCOMPARE(c->format, std::string("hdf5"));
        QCOMPARE(c->tree->childKey(0), std::string("g"));
        QCOMPARE(reader->probe(dir.path() / "missing.bin"), 0);
    }
    void readsSlicesByHyperslabAndReportsStorage() {
        test::TempDir dir;
        const NodePtr arr = patternArray(DType::kFloat32, {300, 70, 20}, 9);  // 1.6 MiB
        const fs::path file = dir.path() / "slice.h5";
        CKPT_VERIFY_OK(writeCheckpoint(Node::makeDict({{"w", arr}}), file, "hdf5"));
        auto c = openCheckpoint(file);
        CKPT_VERIFY_OK(c);
        const ArraySource& src = *c->tree->findChild("w")->array();
        const StorageInfo st = src.storage();
        QCOMPARE(st.format, std::string("hdf5"));
        QCOMPARE(st.codecs, (std::vector<std::string>{"shuffle", "zstd(level=1)"}));
        QCOMPARE(st.chunkShape, (Shape{187, 70, 20}));  // 187 * 70 * 20 * 4 <= 1 MiB
        QCOMPARE(src.chunkShape(), (Shape{187, 70, 20}));
        QVERIFY(st.storedBytes > 0);
        QVERIFY(st.location.find("/w") != std::string::npos);
        auto whole = arr->array()->readAll();
        for (const Selection& sel :
             {Selection{{0, 0, 0}, {1, 1, 1}}, Selection{{185, 3, 5}, {10, 60, 15}},
              Selection{{299, 69, 0}, {1, 1, 20}}, Selection{{0, 0, 0}, {300, 70, 20}},
              Selection{{5, 5, 5}, {0, 3, 3}}}) {
            auto got = src.read(sel);
            CKPT_VERIFY_OK(got);
            std::vector<std::byte> want(sel.elementCount() * 4);
            copyHyperslab(whole->bytes().data(), {300, 70, 20}, 4, sel, want.data());
            QVERIFY(std::equal(want.begin(), want.end(), got->bytes().begin(), got->bytes().end()));
        }
        CKPT_VERIFY_ERROR(src.read(Selection{{0, 0, 0}, {301, 1, 1}}),
                          StatusCode::kInvalidArgument);
    }
    void chunkShapeTargetsOneMiBSlabs() {
        using hdf5::chunkShapeFor;
        QCOMPARE(chunkShapeFor({10}, 4, 1 << 20), (Shape{10}));
        QCOMPARE(chunkShapeFor({1 << 20}, 4, 1 << 20), (Shape{1 << 18}));
        QCOMPARE(chunkShapeFor({4096, 4096}, 4, 1 << 20), (Shape{64, 4096}));
        QCOMPARE(chunkShapeFor({3, 1 << 20}, 2, 1 << 20), (Shape{1, 1 << 19}));
        QCOMPARE(chunkShapeFor({7, 0, 5}, 8, 1 << 20), (Shape{7, 1, 5}));
    }
    void streamsOneChunkAtATime() {
        test::TempDir dir;
        auto src = std::make_shared<SyntheticSource>(Shape{1024, 2048});  // 8 MiB of uint32
        std::uint64_t lastDone = 0, total = 0;
        WriteOptions o;
        o.progress = [&](std::uint64_t done, std::uint64_t all) {
            lastDone = done;
            total = all;
        };
        const fs::path file = dir.path() / "big.h5";
        CKPT_VERIFY_OK(
            writeCheckpoint(Node::makeDict({{"big", Node::makeArray(src)}}), file, "hdf5", o));
        QVERIFY2(src->m_maxRead <= hdf5::kTargetChunkBytes, std::to_string(src->m_maxRead).c_str());
        QCOMPARE(src->m_total, std::uint64_t{8} << 20);
        QCOMPARE(lastDone, std::uint64_t{8} << 20);
        QCOMPARE(total, std::uint64_t{8} << 20);
        QVERIFY(fs::file_size(file) < (std::uint64_t{8} << 20) / 4);  // zstd + shuffle compresses
        auto c = openCheckpoint(file);
        CKPT_VERIFY_OK(c);
        auto part = c->tree->findChild("big")->array()->read(Selection{{1000, 7}, {2, 3}});
        CKPT_VERIFY_OK(part);
        std::uint32_t v = 0;
        std::memcpy(&v, part->bytes().data() + 4 * 4, 4);
        QCOMPARE(v, std::uint32_t{1001 * 2048 + 8});
    }
    void writesAtomicallyAndRefusesExistingTargets() {
        test::TempDir dir;
        const fs::path file = dir.path() / "t.h5";
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), file, "hdf5"));
        const auto before = readFile(file);
        CKPT_VERIFY_ERROR(writeCheckpoint(makeDemoTrainState(), file, "hdf5"),
                          StatusCode::kAlreadyExists);
        CancelToken cancel;
        cancel.cancel();
        WriteOptions o;
        o.overwrite = true;
        o.cancel = &cancel;
        CKPT_VERIFY_ERROR(writeCheckpoint(makeDemoTrainState(), file, "hdf5", o),
                          StatusCode::kCancelled);
        QVERIFY(readFile(file) == before);
        o.cancel = nullptr;
        CKPT_VERIFY_OK(writeCheckpoint(Node::makeDict({}), file, "hdf5", o));
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(dir.path()))
            names.push_back(e.path().filename().string());
        QCOMPARE(names, std::vector<std::string>{"t.h5"});  // no temporary left behind
        QCOMPARE(openCheckpoint(file)->tree->childCount(), std::size_t{0});
    }
    void zstdFilterIsBoundedAndCompatible() {
        std::vector<std::byte> data(1000);
        for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7);
        auto packed = hdf5::zstdCompress(data, 3);
        CKPT_VERIFY_OK(packed);
        auto ok = hdf5::zstdDecompressBounded(*packed, 1000);
        CKPT_VERIFY_OK(ok);
        QVERIFY(*ok == data);
        CKPT_VERIFY_ERROR(hdf5::zstdDecompressBounded(*packed, 999), StatusCode::kCorruption);
        auto cut = *packed;
        cut.resize(cut.size() - 3);
        CKPT_VERIFY_ERROR(hdf5::zstdDecompressBounded(cut, 1000), StatusCode::kCorruption);
        CKPT_VERIFY_ERROR(hdf5::zstdDecompressBounded(std::vector<std::byte>(16), 1000),
                          StatusCode::kCorruption);
        // A frame without a content size (streaming writers) is bounded by the cap too.
        ZSTD_CCtx* cctx = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
        std::vector<std::byte> frame(ZSTD_compressBound(data.size()));
        ZSTD_outBuffer out{frame.data(), frame.size(), 0};
        ZSTD_inBuffer in{data.data(), data.size(), 0};
        QCOMPARE(ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_end), std::size_t{0});
        ZSTD_freeCCtx(cctx);
        frame.resize(out.pos);
        QCOMPARE(ZSTD_getFrameContentSize(frame.data(), frame.size()), ZSTD_CONTENTSIZE_UNKNOWN);
        auto streamed = hdf5::zstdDecompressBounded(frame, 4096);
        CKPT_VERIFY_OK(streamed);
        QVERIFY(*streamed == data);
        CKPT_VERIFY_ERROR(hdf5::zstdDecompressBounded(frame, 500), StatusCode::kCorruption);
    }
    void rejectsTruncatedFilesWithTheirName() {
        test::TempDir dir;
        const fs::path good = dir.path() / "good.h5";
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), good, "hdf5"));
        const auto bytes = readFile(good);
        const fs::path cut = dir.path() / "cut.h5";
        int failures = 0;
        for (std::size_t n = 0; n < bytes.size(); n += (n < 4096 ? 1 : 97)) {
            writeFile(cut, std::vector<char>(bytes.begin(),
                                             bytes.begin() + static_cast<std::ptrdiff_t>(n)));
            const Status s = openAndReadAll(cut);
            QVERIFY2(!s.isOk(), ("truncated at " + std::to_string(n) + " opened").c_str());
            QVERIFY2(s.message().find(cut.string()) != std::string::npos, s.toString().c_str());
            // Past the signature, the superblock's end-of-file address names the damage
            // before libhdf5 (or its child process) is involved.
            const char* says = n < 8 ? "is not an HDF5 file" : "is truncated";
            QVERIFY2(s.message().find(says) != std::string::npos, s.toString().c_str());
            ++failures;
        }
        QVERIFY(failures > 100);
        CKPT_VERIFY_OK(openAndReadAll(good));
    }
    void rejectsTruncatedFilesAfterAUserBlock_data() {
        QTest::addColumn<int>("superblockVersion");  // 0: libhdf5's default, 3: latest format
        QTest::newRow("superblock v0") << 0;
        QTest::newRow("superblock v3") << 3;
    }
    void rejectsTruncatedFilesAfterAUserBlock() {
        QFETCH(int, superblockVersion);
        test::TempDir dir;
        const fs::path file = dir.path() / "user_block.h5";
        {
            auto lock = hdf5::lockHdf5();
            hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
            H5Pset_userblock(fcpl, 2048);
            hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
            if (superblockVersion == 3) H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
            hid_t f = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, fcpl, fapl);
            const hsize_t n = 1000;
            hid_t space = H5Screate_simple(1, &n, nullptr);
            hid_t d = H5Dcreate2(f, "w", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                                 H5P_DEFAULT);
            std::vector<double> v(n, 2.5);
            H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
            H5Dclose(d);
            H5Sclose(space);
            H5Fclose(f);
            H5Pclose(fapl);
            H5Pclose(fcpl);
        }
        CKPT_VERIFY_OK(openAndReadAll(file));
        const auto size = fs::file_size(file);
        for (std::uintmax_t cut : {size - 1, size - 4000, std::uintmax_t{2048 + 60}}) {
            fs::resize_file(file, cut);
            const Status s = openAndReadAll(file);
            QVERIFY2(s.message().find("'" + file.string() + "' is truncated") != std::string::npos,
                     s.toString().c_str());
        }
    }
    void survivesByteFlipsInChunkData() {
        // Every byte of every stored chunk is fair game: our zstd filter and the dtype mapping
        // must turn damage into a Status (or, for shuffle-only damage, different values).
        test::TempDir dir;
        const fs::path good = dir.path() / "good.h5";
        CKPT_VERIFY_OK(writeCheckpoint(everyKindTree(), good, "hdf5"));
        std::vector<std::pair<haddr_t, hsize_t>> chunks;
        {
            auto lock = hdf5::lockHdf5();
            hid_t f = H5Fopen(good.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
            hid_t g = H5Gopen2(f, "arrays", H5P_DEFAULT);
            for (const auto& info : allDTypes()) {
                hid_t d = H5Dopen2(g, std::string(info.name).c_str(), H5P_DEFAULT);
                hid_t space = H5Dget_space(d);
                hsize_t offset[2];
                unsigned mask = 0;
                haddr_t addr = 0;
                hsize_t size = 0;
                if (H5Dget_chunk_info(d, space, 0, offset, &mask, &addr, &size) >= 0)
                    chunks.emplace_back(addr, size);
                H5Sclose(space);
                H5Dclose(d);
            }
            H5Gclose(g);
            H5Fclose(f);
        }
        QCOMPARE(chunks.size(), allDTypes().size());
        const auto bytes = readFile(good);
        const fs::path bad = dir.path() / "flipped.h5";
        std::mt19937 rng(1234);
        int errors = 0;
        for (int i = 0; i < 200; ++i) {
            auto copy = bytes;
            const auto& [addr, size] = chunks[rng() % chunks.size()];
            copy[addr + rng() % size] ^= static_cast<char>(1 + rng() % 255);
            writeFile(bad, copy);
            const Status s = openAndReadAll(bad);
            if (!s.isOk()) {
                ++errors;
                QVERIFY2(s.message().find(bad.string()) != std::string::npos, s.toString().c_str());
                QVERIFY2(s.message().find("zstd") != std::string::npos ||
                             s.message().find("filter") != std::string::npos,
                         s.toString().c_str());
            }
        }
        qInfo("chunk flips: %d of 200 reported as errors", errors);
        QVERIFY(errors > 20);
    }
    void metadataByteFlipsAreContainedInAChildProcess() {
        // libhdf5 1.10.8 itself can crash on damaged metadata (seen: a double free in
        // H5G__dense_iterate; 5 of these 150 copies with CKPT_HDF5_ISOLATION=0). The reader
        // walks a file in a child process first (hdf5_isolation.h), so every copy must end in a
        // clean Status that names the file. Each open still runs in a forked child here, so that
        // a crash that got through is counted rather than ending the test run.
        test::TempDir dir;
        const fs::path good = dir.path() / "good.h5";
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), good, "hdf5"));
        const auto bytes = readFile(good);
        std::mt19937 rng(99);
        int crashes = 0, hangs = 0, errors = 0, opened = 0;
        for (int i = 0; i < 150; ++i) {
            auto copy = bytes;
            for (int k = 0; k < 3; ++k)
                copy[rng() % copy.size()] ^= static_cast<char>(1 + rng() % 255);
            const fs::path bad = dir.path() / ("flip" + std::to_string(i) + ".h5");
            writeFile(bad, copy);
            const pid_t pid = ::fork();
            if (pid == 0) {
                for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL})
                    std::signal(sig, SIG_DFL);
                ::alarm(20);  // a library hang counts like a crash
                const Status s = openAndReadAll(bad);
                if (!s.isOk() && s.message().find(bad.string()) == std::string::npos) {
                    std::fprintf(stderr, "no file name: %s\n", s.toString().c_str());
                }
                ::_exit(s.isOk() ? 0
                                 : (s.message().find(bad.string()) != std::string::npos ? 1 : 2));
            }
            int status = 0;
            ::waitpid(pid, &status, 0);
            if (!WIFEXITED(status)) {
                if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) ++hangs;
                ++crashes;
                continue;
            }
            QVERIFY2(WEXITSTATUS(status) != 2,
                     ("error without the file name for flip " + std::to_string(i)).c_str());
            (WEXITSTATUS(status) == 0 ? opened : errors) += 1;
        }
        qInfo("metadata flips: %d opened, %d clean errors, %d libhdf5 crashes (%d hangs)", opened,
              errors, crashes, hangs);
        QVERIFY(errors > 0);
        QCOMPARE(crashes, 0);
        QCOMPARE(hangs, 0);
    }
    void reportsABadChunkAddressWithFileAndKey() {
        test::TempDir dir;
        const fs::path file = dir.path() / "chunks.h5";
        CKPT_VERIFY_OK(writeCheckpoint(
            Node::makeDict({{"w", patternArray(DType::kInt64, {300000}, 3)}}), file, "hdf5"));
        haddr_t addr = 0;
        {
            auto lock = hdf5::lockHdf5();
            hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
            hid_t d = H5Dopen2(f, "w", H5P_DEFAULT);
            hsize_t offset[1];
            unsigned mask = 0;
            hsize_t size = 0;
            hid_t space = H5Dget_space(d);
            QVERIFY(H5Dget_chunk_info(d, space, 1, offset, &mask, &addr, &size) >= 0);
            H5Sclose(space);
            H5Dclose(d);
            H5Fclose(f);
        }
        auto bytes = readFile(file);
        const auto it =
            std::search(bytes.begin(), bytes.end(), reinterpret_cast<const char*>(&addr),
                        reinterpret_cast<const char*>(&addr) + 8);
        QVERIFY(it != bytes.end());
        const std::uint64_t far = 1ULL << 40;
        std::memcpy(&*it, &far, 8);  // the second chunk now points far past the end of the file
        writeFile(file, bytes);
        auto c = openCheckpoint(file);
        CKPT_VERIFY_OK(c);
        const ArraySource& src = *c->tree->findChild("w")->array();
        CKPT_VERIFY_OK(src.read(Selection{{0}, {10}}));  // the first chunk is fine
        const Status s = src.readAll().status();
        QVERIFY(!s.isOk());
        QVERIFY2(s.message().find(file.string()) != std::string::npos &&
                     s.message().find("'w'") != std::string::npos,
                 s.toString().c_str());
    }
    void anOpenCheckpointKeepsNoDatasetOpen() {
        // An open dataset costs libhdf5 ~11 KB: leaves keep their dataset's address and open it
        // per read, so a file of 100,000 datasets opens in ~190 MB, not 1.3 GB.
        test::TempDir dir;
        const fs::path file = dir.path() / "many.h5";
        std::vector<DictEntry> leaves;
        for (unsigned i = 0; i < 200; ++i) {
            leaves.push_back({"w" + std::to_string(i), patternArray(DType::kFloat32, {3, 2}, i)});
        }
        CKPT_VERIFY_OK(writeCheckpoint(Node::makeDict(leaves), file, "hdf5"));
        auto c = openCheckpoint(file);
        CKPT_VERIFY_OK(c);
        const auto openDatasets = [] {
            hdf5::Lock lock = hdf5::lockHdf5();
            return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_DATASET);
        };
        QCOMPARE(openDatasets(), 0);
        // Each leaf still reads, and leaves none open behind it.
        for (std::size_t i = 0; i < c->tree->childCount(); ++i) {
            auto got = c->tree->child(i)->array()->readAll();
            CKPT_VERIFY_OK(got);
            auto want = leaves[i].value->array()->readAll();
            QVERIFY(std::memcmp(got->bytes().data(), want->bytes().data(), want->byteSize()) == 0);
        }
        QCOMPARE(openDatasets(), 0);
    }

    void readsFromSeveralThreads() {
        test::TempDir dir;
        const fs::path file = dir.path() / "mt.h5";
        const NodePtr arr = patternArray(DType::kFloat64, {400, 1000}, 4);
        CKPT_VERIFY_OK(writeCheckpoint(Node::makeDict({{"a", arr}, {"b", arr}}), file, "hdf5"));
        auto c = openCheckpoint(file);
        CKPT_VERIFY_OK(c);
        auto want = arr->array()->readAll();
        std::vector<std::thread> threads;
        std::atomic<int> bad{0};
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < 5; ++i) {
                    auto got = c->tree->child(static_cast<std::size_t>(t % 2))->array()->readAll();
                    if (!got.isOk() || std::memcmp(got->bytes().data(), want->bytes().data(),
                                                   want->byteSize()) != 0)
                        ++bad;
                }
            });
        }
        for (auto& th : threads) th.join();
        QCOMPARE(bad.load(), 0);
    }
};

QTEST_GUILESS_MAIN(TestHdf5Format)
#include "tst_hdf5_format.moc"
