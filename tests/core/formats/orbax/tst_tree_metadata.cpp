#include "formats/orbax/tree_metadata.h"

#include <string>
#include <vector>

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
    void fastScannerAndFallbackAgree() {
        // The plain-JSON fast path handles escapes it knows; \u escapes, floats (in
        // custom_metadata) and odd spacing go through nlohmann. Both must give the same result.
        const char* entry =
            R"J({"key_metadata": [{"key": %KEY%, "key_type": 2}, {"key": 3, "key_type": 1}], )J"
            R"J("value_metadata": {"value_type": "jax.Array", "write_shape": [4, 0]}})J";
        for (const auto& [key, expected] :
             std::vector<std::pair<std::string, std::string>>{
                 {"\"a\\\"b\\\\c\\/d\\te\"", "a\"b\\c/d\te"},
                 {"\"caf\\u00e9\"", "caf\xc3\xa9"},
                 {"\"caf\xc3\xa9\"", "caf\xc3\xa9"}}) {
            const std::vector<std::string> customs = {"null", "{\"lr\": 0.5, \"n\": -2}",
                                                      "[1, 2]"};
            for (const std::string& custom : customs) {
                std::string e = entry;
                e.replace(e.find("%KEY%"), 5, key);
                const std::string text = "{ \"tree_metadata\" :{\"k\":" + e +
                                         "},\n\t\"use_ocdbt\": false, \"custom_metadata\": " +
                                         custom + " }\r\n";
                auto meta = parseTreeMetadata(text, "m");
                CKPT_VERIFY_OK(meta);
                QCOMPARE(meta->leaves.size(), std::size_t{1});
                QCOMPARE(meta->leaves[0].path[0].key, expected);
                QCOMPARE(meta->leaves[0].path[1].key, std::string("3"));
                QCOMPARE(*meta->leaves[0].writeShape, (Shape{4, 0}));
                QCOMPARE(meta->useOcdbt, std::optional<bool>(false));
                QCOMPARE(meta->customMetadataJson,
                         custom == "null" ? std::string("null")
                         : custom[0] == '[' ? std::string("[1,2]")
                                            : std::string("{\"lr\":0.5,\"n\":-2}"));
            }
        }
        // Syntax errors anywhere are still errors (the fast path gives up, nlohmann reports).
        const std::string good =
            R"J({"tree_metadata": {"k": {"key_metadata": [], "value_metadata": {"value_type": "None"}}}})J";
        CKPT_VERIFY_OK(parseTreeMetadata(good, "m"));
        const std::vector<std::string> bads = {good + ",", good.substr(0, good.size() - 1),
                                               "{\"tree_metadata\": {}, }",
                                               "{\"tree_metadata\": {\"k\": 01}}",
                                               "{\"tree_metadata\" {}}",
                                               "{\"tree_metadata\": {}} x"};
        for (const std::string& bad : bads) {
            CKPT_VERIFY_ERROR(parseTreeMetadata(bad, "m"), StatusCode::kCorruption);
        }
    }
    void reproducesPythonTupleRepr() {
        QCOMPARE(pythonTupleRepr({}), std::string("()"));
        QCOMPARE(pythonTupleRepr({"a"}), std::string("('a',)"));
        QCOMPARE(pythonTupleRepr({"b", "c"}), std::string("('b', 'c')"));
        QCOMPARE(pythonTupleRepr({"it's"}), std::string("(\"it's\",)"));
        QCOMPARE(pythonTupleRepr({"a'\"b"}), std::string("('a\\'\"b',)"));
        QCOMPARE(pythonTupleRepr({"x\ny\\"}), std::string("('x\\ny\\\\',)"));
    }

    void sinkReceivesLeavesInOrderAndRestartsOnFallback() {
        // A \u escape is beyond the fast scanner: after two leaves it gives up and the full JSON
        // parser starts over, so the sink is told to forget them and gets all three again.
        const char* text =
            R"J({"tree_metadata": {"('a',)": {"key_metadata": [{"key": "a", "key_type": 2}], "value_metadata": {"value_type": "None"}},)J"
            R"J( "('b',)": {"key_metadata": [{"key": "b", "key_type": 2}], "value_metadata": {"value_type": "None"}},)J"
            R"J( "('\u00e9',)": {"key_metadata": [{"key": "\u00e9", "key_type": 2}], "value_metadata": {"value_type": "None"}}}})J";
        std::vector<std::string> seen;
        int restarts = 0;
        auto meta = parseTreeMetadata(
            text, "m",
            [&](LeafMetadata&& leaf) {
                seen.push_back(leaf.paramName());
                return okStatus();
            },
            [&] {
                ++restarts;
                seen.clear();
            });
        CKPT_VERIFY_OK(meta);
        QVERIFY(meta->leaves.empty());
        QCOMPARE(restarts, 1);
        QCOMPARE(seen, (std::vector<std::string>{"a", "b", "\xc3\xa9"}));

        // Without an escape there is no restart; a sink error stops the parse with it.
        const char* plain =
            R"J({"tree_metadata": {"('a',)": {"key_metadata": [{"key": "a", "key_type": 2}], "value_metadata": {"value_type": "None"}},)J"
            R"J( "('b',)": {"key_metadata": [{"key": "b", "key_type": 2}], "value_metadata": {"value_type": "None"}}}})J";
        restarts = 0;
        int calls = 0;
        auto stopped = parseTreeMetadata(
            plain, "m",
            [&](LeafMetadata&&) {
                ++calls;
                return corruptionError("sink refused");
            },
            [&] { ++restarts; });
        CKPT_VERIFY_ERROR(stopped, StatusCode::kCorruption);
        QCOMPARE(stopped.status().message(), std::string("sink refused"));
        QCOMPARE(calls, 1);
        QCOMPARE(restarts, 0);
    }
};

QTEST_GUILESS_MAIN(TestTreeMetadata)
#include "tst_tree_metadata.moc"
