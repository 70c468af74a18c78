#include "views/details_pane.h"

#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>

#include "bridge/qt_convert.h"
#include "ckpt/core/array.h"
#include "models/display_text.h"

namespace ckpt::ui {

namespace {

// Longest value text shown inline, in characters.
constexpr qsizetype kMaxValueText = 300;

QString elided(QString text) {
    if (text.size() > kMaxValueText) {
        text.truncate(kMaxValueText);
        text += QChar(0x2026);
    }
    return text;
}

QString bytesWithExact(std::uint64_t bytes) {
    if (bytes < 1024) return humanBytes(bytes);
    return QStringLiteral("%1 (%2 bytes)").arg(humanBytes(bytes), groupedCount(bytes));
}

QString kindText(const Node& node) {
    QString kind = toQString(nodeKindName(node.kind()));
    if (node.kind() == NodeKind::kDict) {
        return kind + QStringLiteral(" with ") +
               countedNoun(node.childCount(), DetailsPane::tr("key"), DetailsPane::tr("keys"));
    }
    if (node.isContainer()) {
        return kind + QStringLiteral(" of ") +
               countedNoun(node.childCount(), DetailsPane::tr("item"), DetailsPane::tr("items"));
    }
    return kind;
}

DetailsPane::Fields storageFields(const ArraySource& source) {
    const StorageInfo info = source.storage();
    DetailsPane::Fields fields;
    if (!info.format.empty()) fields.append({DetailsPane::tr("Format"), toQString(info.format)});
    if (!info.file.empty()) fields.append({DetailsPane::tr("File"), toQString(info.file)});
    if (!info.location.empty()) {
        fields.append({DetailsPane::tr("Location"), toQString(info.location)});
    }
    QStringList codecs;
    for (const std::string& codec : info.codecs) codecs.append(toQString(codec));
    fields.append({DetailsPane::tr("Codecs"),
                   codecs.isEmpty() ? DetailsPane::tr("none (raw bytes)") : codecs.join(", ")});
    fields.append({DetailsPane::tr("Chunks"), info.chunkShape.empty()
                                                  ? DetailsPane::tr("not chunked")
                                                  : toQString(formatShape(info.chunkShape))});
    if (info.storedBytes > 0) {
        QString stored = bytesWithExact(info.storedBytes);
        const std::uint64_t raw = source.byteSize();
        if (raw > 0 && raw != info.storedBytes) {
            stored += DetailsPane::tr(", ratio %1")
                          .arg(static_cast<double>(raw) / static_cast<double>(info.storedBytes), 0,
                               'f', 2);
        }
        fields.append({DetailsPane::tr("Stored"), stored});
    }
    return fields;
}

}  // namespace

DetailsPane::DetailsPane(QWidget* parent) : QWidget(parent) {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(8, 6, 8, 6);
    outer->setSpacing(6);

    m_title = new QLabel(this);
    QFont titleFont = m_title->font();
    titleFont.setBold(true);
    m_title->setFont(titleFont);
    m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_title->setTextFormat(Qt::PlainText);
    m_title->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    outer->addWidget(m_title);

    m_columns = new QWidget(this);
    auto* columns = new QHBoxLayout(m_columns);
    columns->setContentsMargins(0, 0, 0, 0);
    columns->setSpacing(24);
    auto makeColumn = [this, columns](QLabel*& heading, QFormLayout*& form) {
        auto* column = new QVBoxLayout;
        column->setSpacing(4);
        heading = new QLabel(m_columns);
        heading->setTextFormat(Qt::PlainText);
        QPalette palette = heading->palette();
        palette.setColor(QPalette::WindowText, palette.color(QPalette::PlaceholderText));
        heading->setPalette(palette);
        column->addWidget(heading);
        form = new QFormLayout;
        form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
        form->setLabelAlignment(Qt::AlignLeft);
        form->setHorizontalSpacing(12);
        form->setVerticalSpacing(3);
        column->addLayout(form);
        column->addStretch(1);
        columns->addLayout(column, 1);
    };
    makeColumn(m_leftHeading, m_leftForm);
    makeColumn(m_rightHeading, m_rightForm);
    outer->addWidget(m_columns, 1);
}

QString DetailsPane::title() const {
    return m_title->text();
}

QString DetailsPane::fieldsText() const {
    QStringList lines;
    for (const auto& [label, value] : m_left) lines.append(label + QStringLiteral(": ") + value);
    for (const auto& [label, value] : m_right) lines.append(label + QStringLiteral(": ") + value);
    return lines.join(QLatin1Char('\n'));
}

void DetailsPane::fillForm(QFormLayout* form, const Fields& fields) {
    while (form->rowCount() > 0) form->removeRow(0);
    for (const auto& [label, value] : fields) {
        auto* valueLabel = new QLabel(value);
        valueLabel->setTextFormat(Qt::PlainText);
        valueLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
        // Long paths and values are clipped rather than widening the window; the tooltip has
        // them in full.
        valueLabel->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
        valueLabel->setToolTip(value);
        form->addRow(label + QLatin1Char(':'), valueLabel);
    }
}

void DetailsPane::setContent(const QString& title, const QString& leftHeading, const Fields& left,
                             const QString& rightHeading, const Fields& right) {
    m_title->setText(title);
    m_title->setToolTip(title);
    m_left = left;
    m_right = right;
    m_leftHeading->setText(leftHeading);
    m_rightHeading->setText(rightHeading);
    m_leftHeading->setVisible(!left.isEmpty());
    m_rightHeading->setVisible(!right.isEmpty());
    fillForm(m_leftForm, left);
    fillForm(m_rightForm, right);
    m_columns->setVisible(!left.isEmpty() || !right.isEmpty());
}

void DetailsPane::showHint(const QString& hint) {
    setContent(hint, {}, {}, {}, {});
}

void DetailsPane::showNode(const NodePtr& node, const KeyPath& path) {
    if (!node) {
        showHint(tr("Nothing selected."));
        return;
    }
    Fields left;
    Fields right;
    const QString keyPath = path.empty() ? tr("(root)") : toQString(formatKeyPath(path));
    left.append({tr("Key path"), keyPath});
    left.append({tr("Kind"), kindText(*node)});
    switch (node->kind()) {
        case NodeKind::kArray: {
            const ArraySourcePtr& source = node->array();
            if (!source) break;
            left.append({tr("DType"), toQString(dtypeName(source->dtype()))});
            left.append({tr("Shape"), toQString(formatShape(source->shape()))});
            left.append({tr("Elements"), groupedCount(source->elementCount())});
            left.append({tr("Size"), bytesWithExact(source->byteSize())});
            right = storageFields(*source);
            break;
        }
        case NodeKind::kScalar: {
            left.append({tr("DType"), toQString(dtypeName(node->scalarDType()))});
            left.append({tr("Shape"), QStringLiteral("()")});
            auto value = node->loadScalar();
            if (!value.isOk()) {
                left.append({tr("Value"), tr("unreadable: %1").arg(toQString(value.status().message()))});
                break;
            }
            left.append({tr("Value"), toQString(value->toText())});
            left.append(
                {tr("Python type"), value->isNative() ? tr("builtin") : tr("numpy scalar")});
            break;
        }
        case NodeKind::kString:
            left.append({tr("Type"), QStringLiteral("str")});
            left.append({tr("Length"), countedNoun(node->text().size(), tr("byte"), tr("bytes"))});
            left.append({tr("Value"), elided(toQString(node->text()))});
            break;
        case NodeKind::kBytes:
            left.append({tr("Type"), QStringLiteral("bytes")});
            left.append({tr("Length"), countedNoun(node->text().size(), tr("byte"), tr("bytes"))});
            break;
        case NodeKind::kNone:
            left.append({tr("Value"), QStringLiteral("None")});
            break;
        case NodeKind::kDict:
        case NodeKind::kList:
        case NodeKind::kTuple: {
            const TreeSummary summary = summarizeNode(*node);
            right.append({tr("Leaves"), groupedCount(summary.leafCount)});
            right.append({tr("Arrays"), groupedCount(summary.arrayCount)});
            right.append({tr("Parameters"), groupedCount(summary.parameterCount)});
            right.append({tr("Size"), bytesWithExact(summary.byteCount)});
            break;
        }
    }
    for (const auto& [key, value] : node->attributes()) {
        left.append({QLatin1Char('@') + toQString(key), elided(toQString(value))});
    }
    const bool isArray = node->kind() == NodeKind::kArray;
    setContent(keyPath, tr("Node"), left, isArray ? tr("Storage") : tr("Subtree"), right);
}

void DetailsPane::showCheckpoint(const Checkpoint& checkpoint, const TreeSummary& summary) {
    Fields left;
    left.append({tr("Path"), fromFsPath(checkpoint.path)});
    left.append({tr("Format"), toQString(checkpoint.format)});
    left.append({tr("Layout"), toQString(checkpoint.layout)});
    if (checkpoint.step) left.append({tr("Step"), toQString(*checkpoint.step)});
    if (!checkpoint.steps.empty()) {
        left.append({tr("Steps in directory"), groupedCount(checkpoint.steps.size())});
    }
    left.append({tr("Leaves"), groupedCount(summary.leafCount)});
    left.append({tr("Arrays"), groupedCount(summary.arrayCount)});
    left.append({tr("Parameters"), groupedCount(summary.parameterCount)});
    left.append({tr("Size"), bytesWithExact(summary.byteCount)});

    Fields right;
    for (const auto& [key, value] : checkpoint.properties) {
        right.append({toQString(key), elided(toQString(value))});
    }
    for (const std::string& warning : checkpoint.warnings) {
        right.append({tr("Warning"), toQString(warning)});
    }
    setContent(fromFsPath(checkpoint.path.filename()), tr("Checkpoint"), left, tr("Format details"),
               right);
}

}  // namespace ckpt::ui
