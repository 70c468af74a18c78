#include "edit/edit_dialogs.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QVBoxLayout>
#include <charconv>
#include <cmath>
#include <limits>

#include "bridge/background_job.h"
#include "bridge/qt_convert.h"
#include "bridge/status_text.h"

namespace ckpt::ui {

std::optional<EditValue> parseEditValue(const QString& input) {
    const QString text = input.trimmed();
    const QString lower = text.toLower();
    if (lower == QLatin1String("true")) return EditValue{true};
    if (lower == QLatin1String("false")) return EditValue{false};
    if (lower == QLatin1String("nan")) return EditValue{std::numeric_limits<double>::quiet_NaN()};
    if (lower == QLatin1String("inf") || lower == QLatin1String("+inf")) {
        return EditValue{std::numeric_limits<double>::infinity()};
    }
    if (lower == QLatin1String("-inf")) return EditValue{-std::numeric_limits<double>::infinity()};
    const std::string s = text.toStdString();
    if (s.empty()) return std::nullopt;
    const char* begin = s.data();
    const char* end = s.data() + s.size();
    if (s.find_first_of(".eE") == std::string::npos) {
        std::int64_t i = 0;
        if (auto [p, ec] = std::from_chars(begin, end, i); ec == std::errc() && p == end) {
            return EditValue{i};
        }
        std::uint64_t u = 0;
        if (auto [p, ec] = std::from_chars(begin, end, u); ec == std::errc() && p == end) {
            return EditValue{u};
        }
    }
    double d = 0;
    if (auto [p, ec] = std::from_chars(begin, end, d); ec == std::errc() && p == end) {
        return EditValue{d};
    }
    return std::nullopt;
}

std::optional<Shape> parseShape(const QString& input) {
    QString text = input.trimmed();
    if (text.startsWith(QLatin1Char('(')) || text.startsWith(QLatin1Char('['))) text.remove(0, 1);
    if (text.endsWith(QLatin1Char(')')) || text.endsWith(QLatin1Char(']'))) text.chop(1);
    Shape shape;
    const QStringList parts = text.split(QLatin1Char(','), Qt::SkipEmptyParts);
    for (const QString& part : parts) {
        bool ok = false;
        const qlonglong n = part.trimmed().toLongLong(&ok);
        if (!ok || n < 0) return std::nullopt;
        shape.push_back(n);
    }
    return shape;
}

namespace {

enum AddKind { kDictKind, kListKind, kNoneKind, kStringKind, kScalarKind, kZerosKind, kOnesKind,
               kFullKind, kCopyKind };

void fillDTypes(QComboBox* box, DType preferred) {
    for (const DTypeInfo& info : allDTypes()) {
        box->addItem(toQString(info.name), static_cast<int>(info.dtype));
    }
    box->setCurrentIndex(box->findData(static_cast<int>(preferred)));
}

}  // namespace

AddNodeDialog::AddNodeDialog(NodeKind parentKind, QWidget* parent) : QDialog(parent) {
    setWindowTitle(parentKind == NodeKind::kDict ? tr("Add Key") : tr("Append Item"));
    auto* form = new QFormLayout;
    m_key = new QLineEdit;
    m_key->setObjectName(QStringLiteral("addKey"));
    if (parentKind == NodeKind::kDict) form->addRow(tr("&Key:"), m_key);
    m_kind = new QComboBox;
    m_kind->setObjectName(QStringLiteral("addKind"));
    m_kind->addItem(tr("Dict"), kDictKind);
    m_kind->addItem(tr("List"), kListKind);
    m_kind->addItem(tr("None"), kNoneKind);
    m_kind->addItem(tr("String"), kStringKind);
    m_kind->addItem(tr("Scalar"), kScalarKind);
    m_kind->addItem(tr("Array of zeros"), kZerosKind);
    m_kind->addItem(tr("Array of ones"), kOnesKind);
    m_kind->addItem(tr("Array filled with a value"), kFullKind);
    m_kind->addItem(tr("Copy of another node"), kCopyKind);
    m_kind->setCurrentIndex(m_kind->findData(kZerosKind));
    form->addRow(tr("&What:"), m_kind);
    m_dtype = new QComboBox;
    fillDTypes(m_dtype, DType::kFloat32);
    form->addRow(tr("&DType:"), m_dtype);
    m_shape = new QLineEdit;
    m_shape->setPlaceholderText(tr("e.g. 3, 4 (empty: a 0-d array)"));
    form->addRow(tr("S&hape:"), m_shape);
    m_value = new QLineEdit;
    form->addRow(tr("&Value:"), m_value);
    m_error = new QLabel;
    m_error->setStyleSheet(QStringLiteral("color: palette(link)"));
    m_error->setWordWrap(true);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    connect(buttons, &QDialogButtonBox::accepted, this, &AddNodeDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_error);
    layout->addWidget(buttons);
    connect(m_kind, &QComboBox::currentIndexChanged, this, &AddNodeDialog::updateFields);
    updateFields();
}

QString AddNodeDialog::key() const { return m_key->text(); }

void AddNodeDialog::updateFields() {
    const int kind = m_kind->currentData().toInt();
    const bool array = kind == kZerosKind || kind == kOnesKind || kind == kFullKind;
    m_dtype->setEnabled(array || kind == kScalarKind);
    m_shape->setEnabled(array);
    m_value->setEnabled(kind == kFullKind || kind == kScalarKind || kind == kStringKind ||
                        kind == kCopyKind);
    m_value->setPlaceholderText(kind == kCopyKind     ? tr("key path, e.g. params/Dense_0/bias")
                                : kind == kStringKind ? tr("text")
                                                      : tr("e.g. 0.5, -3, true, nan"));
}

std::optional<NodeSpec> AddNodeDialog::spec(QString* error) const {
    const auto dtype = static_cast<DType>(m_dtype->currentData().toInt());
    const auto shapeOf = [&]() -> std::optional<Shape> {
        auto shape = parseShape(m_shape->text());
        if (!shape && error) *error = tr("The shape must be non-negative integers: 3, 4");
        return shape;
    };
    const auto valueOf = [&]() -> std::optional<EditValue> {
        auto value = parseEditValue(m_value->text());
        if (!value && error) *error = tr("The value must be a number, true, false, nan or inf");
        return value;
    };
    switch (m_kind->currentData().toInt()) {
        case kDictKind: return NodeSpec::dict();
        case kListKind: return NodeSpec::list();
        case kNoneKind: return NodeSpec::none();
        case kStringKind: return NodeSpec::string(m_value->text().toStdString());
        case kScalarKind: {
            auto value = valueOf();
            if (!value) return std::nullopt;
            return NodeSpec::scalar(dtype, *value);
        }
        case kZerosKind:
        case kOnesKind:
        case kFullKind: {
            auto shape = shapeOf();
            if (!shape) return std::nullopt;
            if (m_kind->currentData().toInt() == kZerosKind) return NodeSpec::zeros(dtype, *shape);
            if (m_kind->currentData().toInt() == kOnesKind) return NodeSpec::ones(dtype, *shape);
            auto value = valueOf();
            if (!value) return std::nullopt;
            return NodeSpec::full(dtype, *shape, *value);
        }
        case kCopyKind: {
            auto from = parseKeyPath(m_value->text().toStdString());
            if (!from.isOk()) {
                if (error) *error = statusToUserText(from.status());
                return std::nullopt;
            }
            return NodeSpec::copyOf(*from);
        }
        default: break;
    }
    return std::nullopt;
}

void AddNodeDialog::accept() {
    QString error;
    if (m_key->isVisibleTo(this) && m_key->text().isEmpty()) {
        m_error->setText(tr("The key must not be empty"));
        return;
    }
    if (!spec(&error)) {
        m_error->setText(error);
        return;
    }
    QDialog::accept();
}

// ---- Cast ------------------------------------------------------------------------------------

CastDialog::CastDialog(NodePtr node, const KeyPath& path, QWidget* parent)
    : QDialog(parent), m_node(std::move(node)) {
    setWindowTitle(tr("Cast %1").arg(toQString(formatKeyPath(path))));
    m_dtype = new QComboBox;
    m_dtype->setObjectName(QStringLiteral("castDType"));
    DType current = DType::kFloat32;
    if (m_node && m_node->kind() == NodeKind::kArray) current = m_node->array()->dtype();
    fillDTypes(m_dtype, current == DType::kBFloat16 ? DType::kFloat32 : DType::kBFloat16);
    m_preview = new QLabel;
    m_preview->setWordWrap(true);
    m_preview->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_preview->setMinimumWidth(420);
    auto* form = new QFormLayout;
    form->addRow(tr("&To dtype:"), m_dtype);
    form->addRow(tr("Preview:"), m_preview);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(buttons);
    connect(m_dtype, &QComboBox::currentIndexChanged, this, &CastDialog::startPreview);
    startPreview();
}

CastDialog::~CastDialog() {
    if (m_cancel) m_cancel->cancel();
}

DType CastDialog::dtype() const { return static_cast<DType>(m_dtype->currentData().toInt()); }

void CastDialog::setDType(DType dtype) {
    m_dtype->setCurrentIndex(m_dtype->findData(static_cast<int>(dtype)));
}

QString CastDialog::previewText() const { return m_running ? QString() : m_preview->text(); }

void CastDialog::startPreview() {
    if (m_cancel) m_cancel->cancel();
    auto cancel = std::make_shared<CancelToken>();
    m_cancel = cancel;
    const std::uint64_t generation = ++m_generation;
    m_running = true;
    m_preview->setText(tr("Computing the worst case over every element\u2026"));
    struct Outcome {
        CastReport total;
        std::uint64_t arrays = 0;
        Status status;
    };
    runInBackground(
        this,
        [node = m_node, to = dtype(), cancel] {
            Outcome out;
            walkTree(node, [&](const KeyPath&, const Node& n) {
                if (!out.status.isOk()) return false;
                if (n.kind() != NodeKind::kArray || !n.array()) return true;
                auto report = previewCast(*n.array(), to, cancel.get());
                if (!report.isOk()) {
                    out.status = report.status();
                    return false;
                }
                ++out.arrays;
                out.total.count += report->count;
                out.total.outOfRange += report->outOfRange;
                out.total.nanCreated += report->nanCreated;
                out.total.changed += report->changed;
                out.total.maxAbsError = std::max(out.total.maxAbsError, report->maxAbsError);
                out.total.maxRelError = std::max(out.total.maxRelError, report->maxRelError);
                return true;
            });
            return out;
        },
        [this, generation](const Outcome& out) {
            if (generation != m_generation) return;
            m_running = false;
            if (!out.status.isOk()) {
                m_preview->setText(statusToUserText(out.status));
            } else if (out.arrays == 0) {
                m_preview->setText(tr("No array below this node (scalars are cast exactly as "
                                      "numpy does)."));
            } else {
                const CastReport& r = out.total;
                m_preview->setText(
                    tr("%1 elements in %2 arrays: %3 change, %4 out of range, %5 become NaN; "
                       "worst absolute error %6, worst relative error %7")
                        .arg(r.count)
                        .arg(out.arrays)
                        .arg(r.changed)
                        .arg(r.outOfRange)
                        .arg(r.nanCreated)
                        .arg(r.maxAbsError, 0, 'g', 6)
                        .arg(r.maxRelError, 0, 'g', 6));
            }
            emit previewFinished();
        });
}

// ---- Export ----------------------------------------------------------------------------------

std::vector<ExportDialog::Preset> ExportDialog::presetsFor(const NodePtr& root,
                                                           const std::vector<KeyPath>& selection) {
    std::vector<Preset> presets;
    if (!selection.empty()) {
        presets.push_back(
            {tr("Selection (%n node(s))", nullptr, static_cast<int>(selection.size())), selection});
    }
    if (!root || root->kind() != NodeKind::kDict) return presets;
    if (root->findChild("params")) {
        presets.push_back({tr("Parameters only (params)"), {{"params"}}});
    }
    const auto isOptimizer = [](const std::string& key) {
        return key == "opt_state" || key == "optimizer" || key == "opt_states";
    };
    std::vector<KeyPath> rest;
    bool hasOptimizer = false;
    for (std::size_t i = 0; i < root->childCount(); ++i) {
        const std::string key = root->childKey(i);
        if (isOptimizer(key)) {
            hasOptimizer = true;
        } else {
            rest.push_back({key});
        }
    }
    if (hasOptimizer && !rest.empty()) {
        presets.push_back({tr("Without optimizer state"), std::move(rest)});
    }
    return presets;
}

ExportDialog::ExportDialog(std::vector<Preset> presets, const QString& suggestedTarget,
                           QWidget* parent)
    : QDialog(parent), m_presets(std::move(presets)) {
    setWindowTitle(tr("Export Subtrees"));
    m_preset = new QComboBox;
    for (const Preset& preset : m_presets) m_preset->addItem(preset.name);
    m_format = new QComboBox;
    m_format->addItem(tr("Orbax (directory)"), QStringLiteral("orbax"));
    m_format->addItem(tr("Flax msgpack"), QStringLiteral("flax"));
    m_format->addItem(tr("HDF5"), QStringLiteral("hdf5"));
    m_format->addItem(tr("safetensors"), QStringLiteral("safetensors"));
    m_format->addItem(tr("NumPy npz"), QStringLiteral("npz"));
    m_cast = new QComboBox;
    m_cast->addItem(tr("Keep dtypes"), -1);
    for (DType d : {DType::kFloat32, DType::kBFloat16, DType::kFloat16}) {
        m_cast->addItem(tr("Cast to %1").arg(toQString(dtypeName(d))), static_cast<int>(d));
    }
    m_target = new QLineEdit(suggestedTarget);
    auto* form = new QFormLayout;
    form->addRow(tr("&Export:"), m_preset);
    form->addRow(tr("&Format:"), m_format);
    form->addRow(tr("&DTypes:"), m_cast);
    form->addRow(tr("&To:"), m_target);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    buttons->button(QDialogButtonBox::Ok)->setEnabled(!m_presets.empty());
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(buttons);
}

const std::vector<KeyPath>& ExportDialog::paths() const {
    static const std::vector<KeyPath> kNone;
    const int i = m_preset->currentIndex();
    return i >= 0 && static_cast<std::size_t>(i) < m_presets.size()
               ? m_presets[static_cast<std::size_t>(i)].paths
               : kNone;
}

std::optional<DType> ExportDialog::cast() const {
    const int d = m_cast->currentData().toInt();
    if (d < 0) return std::nullopt;
    return static_cast<DType>(d);
}

QString ExportDialog::format() const { return m_format->currentData().toString(); }

QString ExportDialog::target() const { return m_target->text(); }

}  // namespace ckpt::ui
