#include "doctor_command.h"

#include <nlohmann/json.hpp>

#include "ckpt/core/doctor.h"
#include "value_format.h"

namespace ckpt::cli {

namespace {

using Json = nlohmann::ordered_json;

void printJson(const DoctorReport& r, std::ostream& out) {
    Json findings = Json::array();
    for (const Finding& f : r.findings) {
        findings.push_back({{"severity", findingSeverityName(f.severity)},
                            {"code", f.code},
                            {"path", f.keyPath},
                            {"message", f.message}});
    }
    Json census = Json::object();
    for (const auto& [dtype, c] : r.census)
        census[dtype] = {{"count", c.count}, {"bytes", c.bytes}};
    Json j = {{"path", r.path.string()},
              {"format", r.format},
              {"step", r.step ? Json(*r.step) : Json()},
              {"previous_step", r.previousStep ? Json(*r.previousStep) : Json()},
              {"healthy", r.healthy()},
              {"findings", std::move(findings)},
              {"census", std::move(census)}};
    out << j.dump(2) << "\n";
}

void printText(const DoctorReport& r, std::ostream& out) {
    out << r.path.string() << " (" << r.format;
    if (r.step) out << ", step " << *r.step;
    if (r.previousStep) out << ", compared with step " << *r.previousStep;
    out << "): " << r.arraysRead << " arrays read\n";
    for (FindingSeverity s :
         {FindingSeverity::kError, FindingSeverity::kWarning, FindingSeverity::kInfo}) {
        const std::size_t n = r.count(s);
        if (n == 0) continue;
        out << "\n" << findingSeverityName(s) << "s (" << n << "):\n";
        for (const Finding& f : r.findings) {
            if (f.severity != s) continue;
            out << "  [" << f.code << "] ";
            if (!f.keyPath.empty()) out << f.keyPath << ": ";
            out << f.message << "\n";
        }
    }
    out << "\ndtype census:\n";
    for (const auto& [dtype, c] : r.census) {
        out << "  " << dtype << ": " << c.count << (c.count == 1 ? " leaf, " : " leaves, ")
            << humanBytes(c.bytes) << "\n";
    }
    out << "\nsummary: " << r.count(FindingSeverity::kError) << " error(s), "
        << r.count(FindingSeverity::kWarning) << " warning(s), " << r.count(FindingSeverity::kInfo)
        << " info — " << (r.healthy() ? "healthy" : "problems found") << "\n";
}

}  // namespace

int runDoctor(const DoctorArgs& args, std::ostream& out, std::ostream& err) {
    DoctorOptions options;
    options.step = args.source.step;
    options.format = args.source.format;
    options.jumpFactor = args.jumpFactor;
    options.meanShiftStds = args.meanShiftStds;
    auto report = examineCheckpoint(args.source.path, options);
    if (!report.isOk()) {
        err << "ckpt: " << report.status().toString() << "\n";
        return kDoctorError;
    }
    if (args.json) {
        printJson(*report, out);
    } else {
        printText(*report, out);
    }
    return report->healthy() ? kDoctorHealthy : kDoctorProblems;
}

}  // namespace ckpt::cli
