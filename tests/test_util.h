// Shared helpers for the Qt Test suites: Status printing and OK checks that show the message.
#pragma once

#include <QtTest/QtTest>
#include <filesystem>
#include <string>

#include "ckpt/core/status.h"

namespace ckpt {
// QTest prints a Status through this (found by argument-dependent lookup).
inline char* toString(const Status& status) { return qstrdup(status.toString().c_str()); }
}  // namespace ckpt

#define CKPT_VERIFY_OK(expr)                                                           \
    do {                                                                               \
        const ::ckpt::Status ckpt_s_ = ::ckpt::detail::toStatus((expr));               \
        if (!ckpt_s_.isOk()) QFAIL(("not OK: " + ckpt_s_.toString()).c_str());        \
    } while (false)

#define CKPT_VERIFY_ERROR(expr, expected)                                                  \
    do {                                                                               \
        const ::ckpt::Status ckpt_s_ = ::ckpt::detail::toStatus((expr));               \
        if (ckpt_s_.isOk()) QFAIL("expected an error, got OK");                      \
        if (ckpt_s_.code() != (expected)) QFAIL(("wrong code: " + ckpt_s_.toString()).c_str()); \
    } while (false)

namespace ckpt::test {

// A fresh directory under the system temp dir, removed at scope exit.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "ckpt-test-XXXXXX").string();
        m_path = ::mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

}  // namespace ckpt::test
