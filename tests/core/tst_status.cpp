#include "ckpt/core/status.h"
#include "tests/test_util.h"

using namespace ckpt;

class TestStatus : public QObject {
    Q_OBJECT
private:
    static Result<int> half(int v) {
        if (v % 2 != 0) return invalidArgumentError(std::to_string(v) + " is odd");
        return v / 2;
    }
    static Result<int> quarter(int v) {
        CKPT_ASSIGN_OR_RETURN(int h, half(v));
        CKPT_ASSIGN_OR_RETURN(int q, half(h));
        return q;
    }
    static Status checkEven(int v) {
        CKPT_RETURN_IF_ERROR(half(v));
        return okStatus();
    }

private slots:
    void okStatusIsOk() {
        QVERIFY(okStatus().isOk());
        QCOMPARE(okStatus().toString(), std::string("OK"));
    }
    void contextPrefixesMessage() {
        Status s = corruptionError("bad node").withContext("reading 'x.msgpack'");
        QCOMPARE(s.code(), StatusCode::kCorruption);
        QCOMPARE(s.message(), std::string("reading 'x.msgpack': bad node"));
        QCOMPARE(s.toString(), std::string("Corruption: reading 'x.msgpack': bad node"));
        QVERIFY(okStatus().withContext("ignored").isOk());
    }
    void assignOrReturnPropagates() {
        QCOMPARE(*quarter(8), 2);
        auto r = quarter(6);
        QVERIFY(!r.isOk());
        QCOMPARE(r.status().message(), std::string("3 is odd"));
        QCOMPARE(checkEven(3).code(), StatusCode::kInvalidArgument);
        QVERIFY(checkEven(4).isOk());
    }
};

QTEST_GUILESS_MAIN(TestStatus)
#include "tst_status.moc"
