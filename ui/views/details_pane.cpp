#include "views/details_pane.h"

#include <QFrame>
#include <QGuiApplication>
#include <QPalette>
#include <QTextBrowser>
#include <QTextDocument>
#include <QUrl>
#include <QVariant>
#include <QVBoxLayout>
#include <algorithm>

#include "bridge/qt_convert.h"
#include "bridge/status_text.h"
#include "ckpt/core/array.h"
#include "ckpt/core/sharding.h"
#include "models/display_text.h"

namespace ckpt::ui {

namespace {

// Longest value text shown inline, in characters.
constexpr qsizetype kMaxValueText = 300;
// Longest run of characters without a break opportunity before breakable() adds one.
constexpr qsizetype kMaxUnbrokenRun = 24;

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

// The rich-text view; serves the shard picture of the current content to its <img>.
class DetailsText final : public QTextBrowser {
public:
    using QTextBrowser::QTextBrowser;
    QImage picture;
    QUrl pictureUrl;

protected:
    QVariant loadResource(int type, const QUrl& name) override {
        if (type == QTextDocument::ImageResource && name == pictureUrl) return picture;
        return QTextBrowser::loadResource(type, name);
    }
};

QString pendingText() {
    return DetailsPane::tr("computing\u2026");
}

bool isShardingKey(const std::string& key) {
    return QString::fromStdString(key).contains(QLatin1String("sharding"), Qt::CaseInsensitive);
}

QString errorAttribute(const Node& node) {
    const std::string* error = node.attribute("error");
    return error != nullptr ? toQString(*error) : QString();
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
    if (node.kind() == NodeKind::kNone && !errorAttribute(node).isEmpty()) {
        return kind + DetailsPane::tr(" (unreadable leaf)");
    }
    if (node.kind() == NodeKind::kArray && node.array() && node.array()->metadataLoaded() &&
        !node.array()->metadataStatus().isOk()) {
        return kind + DetailsPane::tr(" (unreadable leaf)");
    }
    return kind;
}

// "8 × 8 (4 chunks)" for a chunk shape over `shape`.
QString chunkText(const Shape& chunk, const Shape& shape) {
    if (chunk.empty()) return DetailsPane::tr("not chunked");
    QString text = toQString(formatShape(chunk));
    if (chunk.size() != shape.size()) return text;
    std::uint64_t count = 1;
    for (std::size_t d = 0; d < chunk.size(); ++d) {
        if (chunk[d] <= 0) return text;
        count *= static_cast<std::uint64_t>((std::max<std::int64_t>(shape[d], 0) + chunk[d] - 1) /
                                            chunk[d]);
    }
    return text + QStringLiteral(" (") +
           countedNoun(count, DetailsPane::tr("chunk"), DetailsPane::tr("chunks")) +
           QLatin1Char(')');
}

// The "Stored" and "Compression ratio" rows. `stored`: nullopt = still computing, 0 = unknown.
void appendStored(DetailsPane::Fields& fields, std::optional<std::uint64_t> stored,
                  std::uint64_t raw) {
    if (!stored) {
        fields.append({DetailsPane::tr("Stored"), pendingText()});
        return;
    }
    if (*stored == 0) {
        fields.append({DetailsPane::tr("Stored"), DetailsPane::tr("unknown")});
        return;
    }
    fields.append({DetailsPane::tr("Stored"), bytesWithExact(*stored)});
    if (raw > 0) {
        fields.append({DetailsPane::tr("Compression ratio"),
                       DetailsPane::tr("%1\u00d7 (%2 in memory)")
                           .arg(static_cast<double>(raw) / static_cast<double>(*stored), 0, 'f', 2)
                           .arg(humanBytes(raw))});
    }
}

DetailsPane::Fields storageFields(const ArraySource& source, const StorageInfo& info,
                                  std::optional<std::uint64_t> storedBytes) {
    DetailsPane::Fields fields;
    fields.append({DetailsPane::tr("Format"),
                   info.format.empty() ? DetailsPane::tr("in memory") : toQString(info.format)});
    if (!info.file.empty()) fields.append({DetailsPane::tr("File"), toQString(info.file)});
    if (!info.location.empty()) {
        fields.append({DetailsPane::tr("Location"), toQString(info.location)});
    }
    QStringList codecs;
    for (const std::string& codec : info.codecs) codecs.append(toQString(codec));
    fields.append({DetailsPane::tr("Codecs"),
                   codecs.isEmpty() ? DetailsPane::tr("none (raw bytes)") : codecs.join(", ")});
    fields.append({DetailsPane::tr("Chunks"), chunkText(info.chunkShape, source.shape())});
    appendStored(fields, storedBytes ? storedBytes : std::optional<std::uint64_t>(info.storedBytes),
                 source.byteSize());
    return fields;
}

}  // namespace

QString DetailsPane::breakable(const QString& text) {
    static const QString kBreakAfter = QStringLiteral("/\\_.,:;-=");
    constexpr QChar kZeroWidthSpace(0x200B);
    QString out;
    out.reserve(text.size() + text.size() / 8);
    qsizetype run = 0;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const QChar c = text.at(i);
        out += c;
        if (c.isSpace()) {
            run = 0;
            continue;
        }
        // Do not split a UTF-16 surrogate pair.
        if (c.isHighSurrogate()) continue;
        ++run;
        const bool last = i + 1 == text.size();
        if (!last && (kBreakAfter.contains(c) || run >= kMaxUnbrokenRun)) {
            out += kZeroWidthSpace;
            run = 0;
        }
    }
    return out;
}

DetailsPane::DetailsPane(QWidget* parent) : QWidget(parent) {
    auto* pane = new QVBoxLayout(this);
    pane->setContentsMargins(0, 0, 0, 0);
    // One read-only rich-text view: it wraps every value at the current width (breakable() gives
    // long paths break opportunities), scrolls vertically, and lets the user select and copy.
    m_text = new DetailsText(this);
    m_text->setObjectName(QStringLiteral("detailsText"));
    m_text->setFrameShape(QFrame::NoFrame);
    m_text->setOpenLinks(false);
    m_text->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_text->setLineWrapMode(QTextEdit::WidgetWidth);
    m_text->viewport()->setAutoFillBackground(false);
    m_text->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
    pane->addWidget(m_text);
}

QString DetailsPane::title() const {
    return m_titleText;
}

QString DetailsPane::fieldsText() const {
    QStringList lines;
    for (const auto& [label, value] : m_left) lines.append(label + QStringLiteral(": ") + value);
    for (const auto& [label, value] : m_right) lines.append(label + QStringLiteral(": ") + value);
    return lines.join(QLatin1Char('\n'));
}

QString DetailsPane::fieldValue(const QString& label) const {
    for (const Fields* fields : {&m_left, &m_right}) {
        for (const auto& [name, value] : *fields) {
            if (name == label) return value;
        }
    }
    return {};
}

QString DetailsPane::formHtml(const QString& heading, const Fields& fields) {
    if (fields.isEmpty()) return {};
    QString html = QStringLiteral("<p style=\"color:%1; margin-bottom:2px\">%2</p>"
                                  "<table cellspacing=0 cellpadding=1>")
                       .arg(QGuiApplication::palette().color(QPalette::PlaceholderText).name(),
                            heading.toHtmlEscaped());
    for (const auto& [label, value] : fields) {
        html += QStringLiteral("<tr><td style=\"white-space:pre; padding-right:10px\" "
                               "valign=top>%1:</td><td valign=top>%2</td></tr>")
                    .arg(label.toHtmlEscaped(), breakable(value).toHtmlEscaped());
    }
    return html + QStringLiteral("</table>");
}

void DetailsPane::setContent(const QString& title, const QString& leftHeading, const Fields& left,
                             const QString& rightHeading, const Fields& right,
                             const ShardPicture* picture) {
    m_titleText = title;
    m_left = left;
    m_right = right;
    QString html = QStringLiteral("<p><b>%1</b></p>").arg(breakable(title).toHtmlEscaped());
    QString leftHtml = formHtml(leftHeading, left);
    const QString rightHtml = formHtml(rightHeading, right);
    auto* text = static_cast<DetailsText*>(m_text);
    text->picture = picture ? picture->image : QImage();
    if (picture && !picture->image.isNull()) {
        // Under the node's facts, whose column is the shorter one, so that it shows without
        // scrolling. A new name each time: the document caches images by name.
        static int serial = 0;
        text->pictureUrl = QUrl(QStringLiteral("ckpt-shards:picture-%1").arg(++serial));
        QString legend;
        for (const auto& [name, color] : picture->legend) {
            legend += QStringLiteral("<span style=\"color:%1\">\u25A0</span>&nbsp;%2 &nbsp; ")
                          .arg(color.name(), name.toHtmlEscaped());
        }
        leftHtml += QStringLiteral("<p style=\"color:%1; margin-bottom:2px\">%2</p>"
                                    "<p style=\"margin-top:2px\"><img src=\"%3\" width=%4 "
                                    "height=%5><br>%6<br>%7</p>")
                         .arg(QGuiApplication::palette().color(QPalette::PlaceholderText).name(),
                              tr("Blocks by writing process"), text->pictureUrl.toString())
                         .arg(picture->image.width())
                         .arg(picture->image.height())
                         .arg(legend, breakable(picture->caption).toHtmlEscaped());
    } else {
        text->pictureUrl = QUrl();
    }
    if (!leftHtml.isEmpty() || !rightHtml.isEmpty()) {
        html += QStringLiteral("<table width=\"100%\" cellspacing=0 cellpadding=0><tr>"
                               "<td width=\"50%\" valign=top style=\"padding-right:16px\">%1</td>"
                               "<td width=\"50%\" valign=top>%2</td></tr></table>")
                    .arg(leftHtml, rightHtml);
    }
    m_text->setHtml(html);
}

QImage DetailsPane::shownShardPicture() const {
    const auto* text = static_cast<const DetailsText*>(m_text);
    return text->pictureUrl.isEmpty() ? QImage() : text->picture;
}

void DetailsPane::showHint(const QString& hint) {
    m_node.reset();
    m_path.clear();
    setContent(hint, {}, {}, {}, {});
}

void DetailsPane::showNode(const NodePtr& node, const KeyPath& path) {
    m_node = node;
    m_path = path;
    m_blocking = true;
    m_rollup.reset();
    m_storage.reset();
    m_storedBytes.reset();
    m_scalarValue.reset();
    m_sharding.reset();
    m_shardPicture.reset();
    render();
}

void DetailsPane::showNode(const NodePtr& node, const KeyPath& path,
                           std::optional<StorageInfo> storage,
                           std::optional<std::uint64_t> storedBytes,
                           std::optional<NodeRollup> rollup) {
    m_node = node;
    m_path = path;
    m_blocking = false;
    m_storage = std::move(storage);
    m_storedBytes = storedBytes;
    m_rollup = rollup;
    m_scalarValue.reset();
    m_sharding.reset();
    m_shardPicture.reset();
    render();
}

void DetailsPane::setStorage(const NodePtr& node, const StorageInfo& storage) {
    if (!node || node != m_node || m_blocking) return;
    m_storage = storage;
    render();
}

void DetailsPane::setStoredBytes(const NodePtr& node, std::uint64_t storedBytes) {
    if (!node || node != m_node || m_blocking) return;
    m_storedBytes = storedBytes;
    render();
}

void DetailsPane::setScalarValue(const NodePtr& node, const Result<Scalar>& value) {
    if (!node || node != m_node || m_blocking) return;
    m_scalarValue = value;
    render();
}

void DetailsPane::setSharding(const NodePtr& node, const std::optional<QString>& sharding) {
    if (!node || node != m_node || m_blocking) return;
    m_sharding = sharding;
    render();
}

void DetailsPane::setShardPicture(const NodePtr& node, const std::optional<ShardPicture>& picture) {
    if (!node || node != m_node || m_blocking) return;
    m_shardPicture = picture;
    render();
}

std::optional<ShardPicture> DetailsPane::shardPicture(const ArraySource& source) {
    const ShardedArray* sharded = shardingOf(source);
    if (!sharded || !source.metadataStatus().isOk()) return std::nullopt;
    auto s = sharded->sharding(ShardDetail::kFull);
    if (!s.isOk()) return std::nullopt;  // the Sharding row says why
    return drawShardPicture(*s);
}

std::optional<QString> DetailsPane::shardingText(const ArraySource& source) {
    const ShardedArray* sharded = shardingOf(source);
    if (!sharded || !source.metadataStatus().isOk()) return std::nullopt;
    auto s = sharded->sharding(ShardDetail::kSummary);
    if (!s.isOk()) return tr("unreadable: %1").arg(statusToUserText(s.status()));
    if (s->shardCount <= 1) return std::nullopt;
    QString text;
    if (s->mesh && s->mesh->type == "NamedSharding") {
        text = tr("%1 on mesh %2, ")
                   .arg(toQString(s->mesh->partitionSpecText()), toQString(s->mesh->meshText()));
    }
    text += tr("%1 shards of %2")
                .arg(QString::number(s->shardCount), toQString(formatShape(s->shardShape)));
    if (s->itemProcesses.size() > 1) {
        text += tr("; the item was written by %1 processes").arg(s->itemProcesses.size());
    }
    return text;
}

void DetailsPane::render() {
    const NodePtr node = m_node;
    if (!node) {
        showHint(tr("Nothing selected."));
        return;
    }
    Fields left;
    Fields right;
    std::optional<ShardPicture> picture;
    const QString keyPath = m_path.empty() ? tr("(root)") : toQString(formatKeyPath(m_path));
    left.append({tr("Key path"), keyPath});
    left.append({tr("Kind"), kindText(*node)});
    switch (node->kind()) {
        case NodeKind::kArray: {
            const ArraySourcePtr& source = node->array();
            if (!source) break;
            if (!m_blocking && !source->metadataLoaded()) {
                // Its metadata is read on first use; the page fetches the storage off the GUI
                // thread, which reads it, and setStorage() renders again.
                left.append({tr("DType"), pendingText()});
                left.append({tr("Shape"), pendingText()});
                right.append({tr("Storage"), pendingText()});
                break;
            }
            if (const Status error = source->metadataStatus(); !error.isOk()) {
                left.append({tr("Value"), tr("unreadable")});
                left.append({tr("Error"), elided(statusToUserText(error))});
                break;
            }
            left.append({tr("DType"), toQString(dtypeName(source->dtype()))});
            left.append({tr("Shape"), toQString(formatShape(source->shape()))});
            left.append({tr("Elements"), groupedCount(source->elementCount())});
            left.append({tr("Size"), bytesWithExact(source->byteSize())});
            if (m_blocking) {
                right = storageFields(*source, source->storage(), std::nullopt);
            } else if (m_storage) {
                right = storageFields(*source, *m_storage, m_storedBytes);
            } else {
                right.append({tr("Storage"), pendingText()});
                if (m_storedBytes) appendStored(right, m_storedBytes, source->byteSize());
            }
            if (const auto sharding = m_blocking ? shardingText(*source) : m_sharding) {
                right.append({tr("Sharding"), elided(*sharding)});
                picture = m_blocking ? shardPicture(*source) : m_shardPicture;
            }
            break;
        }
        case NodeKind::kScalar: {
            const DType dtype = node->scalarDType();
            left.append({tr("DType"), toQString(dtypeName(dtype))});
            left.append({tr("Shape"), QStringLiteral("()")});
            left.append({tr("Size"), bytesWithExact(itemSize(dtype))});
            std::optional<Result<Scalar>> value = m_scalarValue;
            if (!value && (m_blocking || !node->isLazyScalar())) value = node->loadScalar();
            if (!value) {
                // Not read here: the caller reads it off the GUI thread (setScalarValue()).
                left.append({tr("Value"), pendingText()});
                break;
            }
            if (!value->isOk()) {
                left.append(
                    {tr("Value"), tr("unreadable: %1").arg(toQString(value->status().message()))});
                break;
            }
            const Scalar& scalar = value->value();
            left.append({tr("Value"), toQString(scalar.toText())});
            left.append(
                {tr("Python type"), scalar.isNative() ? tr("builtin") : tr("numpy scalar")});
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
        case NodeKind::kNone: {
            const QString error = errorAttribute(*node);
            left.append({tr("Value"), error.isEmpty() ? QStringLiteral("None") : tr("unreadable")});
            break;
        }
        case NodeKind::kDict:
        case NodeKind::kList:
        case NodeKind::kTuple: {
            if (!m_blocking && !m_rollup) {
                // The totals come from the background rollups; no tree walk here.
                right.append({tr("Size"), pendingText()});
                break;
            }
            TreeSummary summary;
            if (m_rollup) {
                summary.leafCount = m_rollup->leafCount;
                summary.arrayCount = m_rollup->arrayCount;
                summary.parameterCount = m_rollup->parameterCount;
                summary.byteCount = m_rollup->memoryBytes;
            } else {
                summary = summarizeNode(*node);
            }
            right.append({tr("Leaves"), groupedCount(summary.leafCount)});
            right.append({tr("Arrays"), groupedCount(summary.arrayCount)});
            right.append({tr("Parameters"), groupedCount(summary.parameterCount)});
            right.append({tr("Size"), bytesWithExact(summary.byteCount)});
            if (m_storedBytes) appendStored(right, m_storedBytes, summary.byteCount);
            break;
        }
    }
    // Custom metadata: sharding gets its own row beside the storage facts, the rest is listed
    // under "@key" (an unreadable leaf's "error" among them).
    for (const auto& [key, value] : node->attributes()) {
        if (isShardingKey(key)) {
            right.append({tr("Sharding"), elided(toQString(value))});
        } else {
            left.append({QLatin1Char('@') + toQString(key), elided(toQString(value))});
        }
    }
    const bool isArray = node->kind() == NodeKind::kArray;
    const QString rightHeading = isArray               ? tr("Storage")
                                 : node->isContainer() ? tr("Subtree")
                                                       : tr("Storage");
    setContent(keyPath, tr("Node"), left, rightHeading, right, picture ? &*picture : nullptr);
}

void DetailsPane::showCheckpoint(const Checkpoint& checkpoint, const TreeSummary& summary) {
    m_node.reset();
    m_path.clear();
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
