#include "ckpt/core/keypath.h"
#include "tests/test_util.h"

using namespace ckpt;

class TestKeyPath : public QObject {
    Q_OBJECT
private slots:
    void roundTripsEveryKey() {
        const std::vector<KeyPath> paths = {
            {}, {"params"}, {"params", "Dense_0", "kernel"}, {"a/b", "c\\d"}, {"", "x"},
            {"x", ""}, {"data", "0"}, {"ünï", "日本"}, {"/"}, {"\\"}};
        for (const auto& p : paths) {
            const std::string text = formatKeyPath(p);
            auto back = parseKeyPath(text);
            CKPT_VERIFY_OK(back);
            QCOMPARE(*back, p);
        }
        QCOMPARE(formatKeyPath({"a/b", "c"}), std::string("a\\/b/c"));
        QCOMPARE(formatKeyPath({""}), std::string("\\e"));
    }
    void acceptsLeadingAndTrailingSlashes() {
        QCOMPARE(*parseKeyPath("/params/kernel/"), (KeyPath{"params", "kernel"}));
        QCOMPARE(*parseKeyPath(""), KeyPath{});
        QCOMPARE(*parseKeyPath("/"), KeyPath{});
    }
    void rejectsMalformedText() {
        CKPT_VERIFY_ERROR(parseKeyPath("a//b"), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(parseKeyPath("a\\"), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(parseKeyPath("a\\x"), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(parseKeyPath("a\\eb"), StatusCode::kInvalidArgument);
    }
    void describesRoot() {
        QCOMPARE(describeKeyPath({}), std::string("(root)"));
        QCOMPARE(describeKeyPath({"a", "b"}), std::string("'a/b'"));
    }
};

QTEST_GUILESS_MAIN(TestKeyPath)
#include "tst_keypath.moc"
