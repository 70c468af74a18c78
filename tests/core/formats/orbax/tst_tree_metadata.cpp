#include "formats/orbax/tree_metadata.h"
#include "tests/test_util.h"

using namespace ckpt;
using namespace ckpt::orbax;

class TestTreeMetadata : public QObject {
    Q_OBJECT
private slots:
    void parsesRealMetadata() {
        // The _METADATA of the orbax-compat fixture direct_checkpoint (orbax-checkpoint 0.12.x).
        const char* text =
            R"J({"tree_metadata": {"('a',)": {"key_metadata": [{"key": "a", "key_type": 2}], )J"
            R"J("value_metadata": {"value_type": "jax.Array", "skip_deserialize": false, "write_shape": [8]}}, )J"
            R"J("('b', 'c')": {"key_metadata": [{"key": "b", "key_type": 2}, {"key": "c", "key_type": 2}], )J"
            R"J("value_metadata": {"value_type": "jax.Array", "skip_deserialize": false, "write_shape": [3]}}}, )J"
            R"J("use_ocdbt": true, "use_zarr3": false, "store_array_data_equal_to_fill_value": true, )J"
            R"J("custom_metadata": null})J";
        auto meta = parseTreeMetadata(text, "_METADATA");
        CKPT_VERIFY_OK(meta);
        QCOMPARE(meta->leaves.size(), std::size_t{2});
        QCOMPARE(meta->leaves[1].paramName(), std::string("b.c"));
        QCOMPARE(meta->leaves[1].path[0].type, KeyType::kDict);
        QCOMPARE(meta->leaves[0].valueType, std::string("jax.Array"));
        QCOMPARE(*meta->leaves[0].writeShape, (Shape{8}));
        QCOMPARE(meta->useOcdbt, std::optional<bool>(true));
        QCOMPARE(meta->useZarr3, std::optional<bool>(false));
        QVERIFY(meta->storeArrayDataEqualToFillValue);
        QCOMPARE(meta->customMetadataJson, std::string("null"));
    }
    void keepsFileOrderAndSequenceKeys() {
        const char* text =
            R"J({"tree_metadata": {"('z',)": {"key_metadata": [{"key": "z", "key_type": 2}], "value_metadata": {"value_type": "None", "skip_deserialize": true}},)J"
            R"J( "('a', '0')": {"key_metadata": [{"key": "a", "key_type": 2}, {"key": "0", "key_type": 1}], "value_metadata": {"value_type": "scalar", "skip_deserialize": false}}}})J";
        auto meta = parseTreeMetadata(text, "m");
        CKPT_VERIFY_OK(meta);
        QCOMPARE(meta->leaves[0].paramName(), std::string("z"));
        QCOMPARE(meta->leaves[1].path[1].type, KeyType::kSequence);
        QVERIFY(meta->leaves[0].skipDeserialize);
        QVERIFY(!meta->useOcdbt.has_value());
    }
    void rejectsMalformedMetadata() {
        CKPT_VERIFY_ERROR(parseTreeMetadata("not json", "m"), StatusCode::kCorruption);
        CKPT_VERIFY_ERROR(parseTreeMetadata("[]", "m"), StatusCode::kCorruption);
        CKPT_VERIFY_ERROR(parseTreeMetadata(R"J({"tree_metadata": {"x": {"key_metadata": 3}}})J", "m"),
                          StatusCode::kCorruption);
        auto r = parseTreeMetadata(
            R"J({"tree_metadata": {"x": {"key_metadata": [{"key": "a", "key_type": 7}], "value_metadata": {"value_type": "None"}}}})J",
            "/ckpt/_METADATA");
        QCOMPARE(r.status().code(), StatusCode::kUnsupported);
        QVERIFY(r.status().message().find("/ckpt/_METADATA") == 0);
    }
    void reproducesPythonTupleRepr() {
        QCOMPARE(pythonTupleRepr({}), std::string("()"));
        QCOMPARE(pythonTupleRepr({"a"}), std::string("('a',)"));
        QCOMPARE(pythonTupleRepr({"b", "c"}), std::string("('b', 'c')"));
        QCOMPARE(pythonTupleRepr({"it's"}), std::string("(\"it's\",)"));
        QCOMPARE(pythonTupleRepr({"a'\"b"}), std::string("('a\\'\"b',)"));
        QCOMPARE(pythonTupleRepr({"x\ny\\"}), std::string("('x\\ny\\\\',)"));
    }
};

QTEST_GUILESS_MAIN(TestTreeMetadata)
#include "tst_tree_metadata.moc"
