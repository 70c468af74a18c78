#include "models/tree_model.h"

#include <QDataStream>
#include <QFont>
#include <QMimeData>
#include <QSet>
#include <QGuiApplication>
#include <QPalette>
#include <algorithm>
#include <charconv>
#include <climits>
#include <optional>
#include <unordered_map>
#include <utility>

#include "bridge/qt_convert.h"
#include "ckpt/core/array.h"
#include "models/display_text.h"

namespace ckpt::ui {

namespace {

// Longest string value shown in a tooltip, in characters.
constexpr qsizetype kMaxToolTipText = 2000;

int rowCountOf(const Node& node) {
    if (!node.isContainer()) return 0;
    return static_cast<int>(std::min<std::size_t>(node.childCount(), INT_MAX));
}

// The row of the child under `key` in `container`, or -1.
int findRow(const Node& container, const std::string& key) {
    if (container.kind() == NodeKind::kDict) {
        const auto& entries = container.entries();
        for (std::size_t i = 0; i < entries.size() && i < INT_MAX; ++i) {
            if (entries[i].key == key) return static_cast<int>(i);
        }
        return -1;
    }
    if (!container.isContainer()) return -1;
    if (key.size() > 1 && key[0] == '0') return -1;  // one spelling per index, as in core
    int row = -1;
    const char* end = key.data() + key.size();
    auto [ptr, ec] = std::from_chars(key.data(), end, row);
    if (ec != std::errc() || ptr != end || row < 0 || row >= rowCountOf(container)) return -1;
    return row;
}

constexpr QChar kEllipsis(0x2026);

// Arrays may read their metadata on first use (large Orbax checkpoints): until something off the
// GUI thread has done so (the rollups job, the details pane), their columns show "…".
bool arrayPending(const Node& node) {
    return node.kind() == NodeKind::kArray && node.array() && !node.array()->metadataLoaded();
}

// The error of an array whose metadata could not be read; OK for every other node. Never blocks.
Status arrayError(const Node& node) {
    if (node.kind() != NodeKind::kArray || !node.array() || !node.array()->metadataLoaded()) {
        return {};
    }
    return node.array()->metadataStatus();
}

QString dtypeText(const Node& node) {
    switch (node.kind()) {
        case NodeKind::kArray:
            if (arrayPending(node)) return QString(kEllipsis);
            if (!arrayError(node).isOk()) return {};
            return node.array() ? toQString(dtypeName(node.array()->dtype())) : QString();
        case NodeKind::kScalar:
            return toQString(dtypeName(node.scalarDType()));
        case NodeKind::kString:
            return QStringLiteral("str");
        case NodeKind::kBytes:
            return QStringLiteral("bytes");
        case NodeKind::kNone:
            return QStringLiteral("None");
        case NodeKind::kDict:
        case NodeKind::kList:
        case NodeKind::kTuple:
            break;
    }
    return {};
}

QString shapeText(const Node& node) {
    switch (node.kind()) {
        case NodeKind::kArray:
            if (arrayPending(node)) return QString(kEllipsis);
            if (!arrayError(node).isOk()) return {};
            return node.array() ? toQString(formatShape(node.array()->shape())) : QString();
        case NodeKind::kScalar:
            return QStringLiteral("()");
        case NodeKind::kDict:
            return countedNoun(node.childCount(), TreeModel::tr("key"), TreeModel::tr("keys"));
        case NodeKind::kList:
        case NodeKind::kTuple:
            return countedNoun(node.childCount(), TreeModel::tr("item"), TreeModel::tr("items"));
        case NodeKind::kString:
        case NodeKind::kBytes:
        case NodeKind::kNone:
            break;
    }
    return {};
}

// What a leaf contributes to the totals, known from metadata alone (no I/O): everything but
// storedBytes (counted as unknown). Null for containers, whose totals need the whole subtree.
std::optional<NodeRollup> leafRollup(const Node& node) {
    if (node.isContainer() || arrayPending(node)) return std::nullopt;
    NodeRollup rollup;
    rollup.leafCount = 1;
    if (node.kind() == NodeKind::kArray && node.array()) {
        rollup.arrayCount = 1;
        rollup.parameterCount = node.array()->elementCount();
        rollup.memoryBytes = node.array()->byteSize();
        rollup.unknownStored = rollup.memoryBytes > 0 ? 1 : 0;
    } else if (node.kind() == NodeKind::kScalar) {
        rollup.parameterCount = 1;
        rollup.memoryBytes = itemSize(node.scalarDType());
    }
    return rollup;
}

// Whether the number columns mean anything for `node` (not for None, strings, bytes).
bool hasNumbers(const Node& node) {
    return node.isContainer() || node.kind() == NodeKind::kArray ||
           node.kind() == NodeKind::kScalar;
}

// The stored-bytes text: "…" when unknown, "≥ 1.2 MiB" when some arrays' sizes are unknown.
QString storedText(const NodeRollup& rollup) {
    if (rollup.unknownStored > 0 && rollup.storedBytes == 0) return TreeModel::tr("unknown");
    const QString bytes = humanBytes(rollup.storedBytes);
    return rollup.unknownStored > 0 ? QStringLiteral("\u2265 ") + bytes : bytes;
}

QString truncated(const std::string& text) {
    QString result = toQString(text);
    if (result.size() > kMaxToolTipText) {
        result.truncate(kMaxToolTipText);
        result += QChar(0x2026);  // …
    }
    return result;
}

bool isNumberColumn(int column) {
    return column == TreeModel::kParametersColumn || column == TreeModel::kSizeColumn ||
           column == TreeModel::kStoredColumn || column == TreeModel::kShareColumn;
}

}  // namespace

// The wrapper of one container whose children are (or have been) asked for. Rows under it are
// addressed as (this, row); wrappers of its child containers are made on demand.
namespace {

// The models alive in this process: a drag names its model by address, which is only followed
// while that model exists.
QSet<const TreeModel*>& liveModels() {
    static QSet<const TreeModel*> models;
    return models;
}

}  // namespace

struct TreeModel::Container {
    NodePtr node;  // a dict, list or tuple
    Container* parent = nullptr;
    int row = 0;  // this container's row under `parent`
    std::unordered_map<int, std::unique_ptr<Container>> children;
};

TreeModel::TreeModel(QObject* parent) : QAbstractItemModel(parent) { liveModels().insert(this); }

TreeModel::~TreeModel() { liveModels().remove(this); }

void TreeModel::setRoot(NodePtr root) {
    beginResetModel();
    m_root = std::move(root);
    m_rollups.reset();
    m_top.reset();
    m_rootIsLeaf = false;
    if (m_root) {
        m_top = std::make_unique<Container>();
        m_rootIsLeaf = m_root->isLeaf();
        // A leaf root is shown as the single child of a synthetic list.
        m_top->node = m_rootIsLeaf ? Node::makeList({m_root}) : m_root;
    }
    endResetModel();
}

TreeModel::Container* TreeModel::containerOf(const QModelIndex& index) const {
    if (!index.isValid()) return nullptr;
    Q_ASSERT(index.model() == this);
    return static_cast<Container*>(index.internalPointer());
}

const NodePtr& TreeModel::childNode(const Container* parent, int row) {
    return parent->node->child(static_cast<std::size_t>(row));
}

TreeModel::Container* TreeModel::childContainer(Container* parent, int row) const {
    if (!parent) return nullptr;
    auto it = parent->children.find(row);
    if (it != parent->children.end()) return it->second.get();
    const NodePtr& node = childNode(parent, row);
    if (!node || !node->isContainer()) return nullptr;
    auto child = std::make_unique<Container>();
    child->node = node;
    child->parent = parent;
    child->row = row;
    Container* raw = child.get();
    parent->children.emplace(row, std::move(child));
    return raw;
}

NodePtr TreeModel::nodeAt(const QModelIndex& index) const {
    const Container* container = containerOf(index);
    if (!container) return nullptr;
    return childNode(container, index.row());
}

KeyPath TreeModel::keyPathAt(const QModelIndex& index) const {
    KeyPath path;
    const Container* container = containerOf(index);
    int row = index.row();
    for (; container; row = container->row, container = container->parent) {
        if (container == m_top.get() && m_rootIsLeaf) break;
        path.push_back(container->node->childKey(static_cast<std::size_t>(row)));
    }
    std::reverse(path.begin(), path.end());
    return path;
}

QModelIndex TreeModel::indexForKeyPath(const KeyPath& path) const {
    if (!m_top) return {};
    if (m_rootIsLeaf) return path.empty() ? index(0, 0) : QModelIndex();
    QModelIndex current;
    const Node* node = m_root.get();
    for (const std::string& key : path) {
        int row = findRow(*node, key);
        if (row < 0) return {};
        current = index(row, 0, current);
        node = childNode(containerOf(current), row).get();
    }
    return current;
}

std::optional<NodeRollup> TreeModel::rollupAt(const QModelIndex& index) const {
    const Container* container = containerOf(index);
    if (!container) return std::nullopt;
    const NodePtr& node = childNode(container, index.row());
    if (!node) return std::nullopt;
    if (m_rollups) {
        if (const NodeRollup* found = m_rollups->find(node.get())) return *found;
        // Not an array or container of this tree: a leaf's own metadata still tells its size;
        // a foreign container's total is not ours to show.
        if (node->kind() != NodeKind::kArray && node->isLeaf()) return m_rollups->rollupOf(*node);
    }
    return leafRollup(*node);
}

std::vector<std::size_t> TreeModel::rowPath(const QModelIndex& index) const {
    std::vector<std::size_t> rows;
    const Container* container = containerOf(index);
    int row = index.row();
    for (; container; row = container->row, container = container->parent) {
        rows.push_back(static_cast<std::size_t>(row));
    }
    std::reverse(rows.begin(), rows.end());
    return rows;
}

void TreeModel::setRollups(std::shared_ptr<const TreeRollups> rollups) {
    m_rollups = std::move(rollups);
    const int rows = rowCount();
    if (rows == 0) return;
    // A multi-cell dataChanged repaints the whole viewport, nested rows included. The kind,
    // dtype and shape columns are in the range too: computing the rollups read the metadata of
    // arrays that showed "…" until now (or found it unreadable).
    emit dataChanged(index(0, kKindColumn), index(rows - 1, kShareColumn),
                     {Qt::DisplayRole, Qt::ToolTipRole, kSizeBytesRole, kStoredBytesRole,
                      kParametersRole, kSortRole});
    emit headerDataChanged(Qt::Horizontal, kParametersColumn, kShareColumn);
}

QModelIndex TreeModel::index(int row, int column, const QModelIndex& parent) const {
    if (!m_top || row < 0 || column < 0 || column >= kColumnCount) return {};
    if (parent.isValid() && parent.column() != 0) return {};
    Container* container =
        parent.isValid() ? childContainer(containerOf(parent), parent.row()) : m_top.get();
    if (!container || row >= rowCountOf(*container->node)) return {};
    return createIndex(row, column, container);
}

QModelIndex TreeModel::parent(const QModelIndex& child) const {
    const Container* container = containerOf(child);
    if (!container || container == m_top.get()) return {};
    return createIndex(container->row, 0, container->parent);
}

int TreeModel::rowCount(const QModelIndex& parent) const {
    if (!m_top) return 0;
    if (!parent.isValid()) return rowCountOf(*m_top->node);
    if (parent.column() != 0) return 0;
    const NodePtr& node = childNode(containerOf(parent), parent.row());
    return node ? rowCountOf(*node) : 0;
}

int TreeModel::columnCount(const QModelIndex& /*parent*/) const {
    return kColumnCount;
}

bool TreeModel::hasChildren(const QModelIndex& parent) const {
    return rowCount(parent) > 0;
}

QString TreeModel::displayText(const QModelIndex& index) const {
    const Container* container = containerOf(index);
    const NodePtr& node = childNode(container, index.row());
    if (!node) return {};
    switch (index.column()) {
        case kNameColumn:
            if (container == m_top.get() && m_rootIsLeaf) return tr("(root)");
            return toQString(container->node->childKey(static_cast<std::size_t>(index.row())));
        case kKindColumn:
            if (!arrayError(*node).isOk()) return tr("unreadable");
            return toQString(nodeKindName(node->kind()));
        case kDTypeColumn:
            return dtypeText(*node);
        case kShapeColumn:
            return shapeText(*node);
        default:
            break;
    }
    if (!hasNumbers(*node)) return {};
    const std::optional<NodeRollup> rollup = rollupAt(index);
    switch (index.column()) {
        case kParametersColumn:
            return rollup ? groupedCount(rollup->parameterCount) : QString(kEllipsis);
        case kSizeColumn:
            return rollup ? humanBytes(rollup->memoryBytes) : QString(kEllipsis);
        case kStoredColumn:
            if (node->kind() == NodeKind::kScalar) return {};  // kept in the metadata
            return rollup && m_rollups ? storedText(*rollup) : QString(kEllipsis);
        case kShareColumn: {
            if (node->kind() == NodeKind::kScalar) return {};
            if (!rollup || !m_rollups) return QString(kEllipsis);
            const std::uint64_t total = m_rollups->total().storedBytes;
            if (total == 0) return {};
            const double share = 100.0 * static_cast<double>(rollup->storedBytes) /
                                 static_cast<double>(total);
            return QString::number(share, 'f', share < 10 ? 2 : 1) + QLatin1Char('%');
        }
        default:
            return {};
    }
}

QVariant TreeModel::sortValue(const QModelIndex& index) const {
    const NodePtr& node = childNode(containerOf(index), index.row());
    if (!node) return {};
    const auto number = [](std::optional<std::uint64_t> value) {
        // Unknown sorts before every known value.
        return QVariant::fromValue<qulonglong>(value ? *value + 1 : 0);
    };
    const std::optional<NodeRollup> rollup = hasNumbers(*node) ? rollupAt(index) : std::nullopt;
    switch (index.column()) {
        case kParametersColumn:
            return number(rollup ? std::optional(rollup->parameterCount) : std::nullopt);
        case kSizeColumn:
            return number(rollup ? std::optional(rollup->memoryBytes) : std::nullopt);
        case kStoredColumn:
        case kShareColumn:
            return number(rollup && m_rollups ? std::optional(rollup->storedBytes)
                                              : std::nullopt);
        case kShapeColumn:
            if (arrayPending(*node)) return number(std::nullopt);
            if (node->kind() == NodeKind::kArray && node->array()) {
                return number(node->array()->elementCount());
            }
            if (node->isContainer()) return number(node->childCount());
            return number(std::nullopt);
        default:
            return displayText(index);
    }
}

QString TreeModel::toolTip(const QModelIndex& index) const {
    const NodePtr node = nodeAt(index);
    if (!node) return {};
    KeyPath path = keyPathAt(index);
    QString html =
        QStringLiteral("<qt><b>%1</b>")
            .arg(path.empty() ? tr("(root)") : toQString(formatKeyPath(path)).toHtmlEscaped());
    QString detail;
    switch (node->kind()) {
        case NodeKind::kScalar:
            // A lazy scalar's value lives on disk: the details pane reads it, not a tooltip.
            detail = node->isLazyScalar()
                         ? tr("%1 scalar").arg(dtypeText(*node))
                         : tr("%1 = %2").arg(dtypeText(*node),
                                             toQString(node->scalar().toText()).toHtmlEscaped());
            break;
        case NodeKind::kString:
            detail = QStringLiteral("str = <span style=\"white-space:pre-wrap\">%1</span>")
                         .arg(truncated(node->text()).toHtmlEscaped());
            break;
        case NodeKind::kBytes:
            detail = tr("bytes, %1").arg(countedNoun(node->text().size(), tr("byte"), tr("bytes")));
            break;
        case NodeKind::kNone:
            detail = QStringLiteral("None");
            break;
        case NodeKind::kArray:
            if (const Status error = arrayError(*node); !error.isOk()) {
                detail = tr("unreadable array: %1")
                             .arg(truncated(error.toString()).toHtmlEscaped());
            } else {
                detail = QStringLiteral("%1 %2").arg(dtypeText(*node), shapeText(*node));
            }
            break;
        case NodeKind::kDict:
        case NodeKind::kList:
        case NodeKind::kTuple:
            detail = QStringLiteral("%1, %2").arg(toQString(nodeKindName(node->kind())),
                                                  shapeText(*node));
            break;
    }
    if (const std::optional<NodeRollup> rollup = rollupAt(index);
        rollup && hasNumbers(*node)) {
        detail += QStringLiteral("<br>") +
                  tr("%1 in memory, %2").arg(humanBytes(rollup->memoryBytes),
                                             countedNoun(rollup->parameterCount, tr("parameter"),
                                                         tr("parameters")));
        if (m_rollups && node->kind() != NodeKind::kScalar) {
            detail += QStringLiteral("<br>") + tr("%1 on disk").arg(storedText(*rollup));
        }
    }
    return html + QStringLiteral("<br>") + detail + QStringLiteral("</qt>");
}

QVariant TreeModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
    switch (role) {
        case Qt::DisplayRole:
            return displayText(index);
        case Qt::ToolTipRole:
            return toolTip(index);
        case Qt::FontRole: {
            if (m_edited.empty() || index.column() != kNameColumn) return {};
            const EditMark mark = editMark(index);
            if (mark == EditMark::kNone) return {};
            QFont font;
            font.setBold(mark == EditMark::kEdited);
            font.setItalic(mark == EditMark::kContainsEdit);
            return font;
        }
        case Qt::EditRole:
            if (index.column() == kNameColumn) return displayText(index);
            return {};
        case Qt::ForegroundRole:
            if (!m_edited.empty() && index.column() == kNameColumn &&
                editMark(index) == EditMark::kEdited) {
                return QGuiApplication::palette().brush(QPalette::Link);
            }
            // Container counts ("3 keys") are secondary to real shapes; mute them.
            if (index.column() == kShapeColumn) {
                const NodePtr node = nodeAt(index);
                if (node && node->isContainer()) {
                    return QGuiApplication::palette().brush(QPalette::PlaceholderText);
                }
            }
            return {};
        case Qt::TextAlignmentRole:
            if (isNumberColumn(index.column())) {
                return QVariant::fromValue(Qt::Alignment(Qt::AlignRight | Qt::AlignVCenter));
            }
            return {};
        case kKeyPathRole:
            return toQString(formatKeyPath(keyPathAt(index)));
        case kSortRole:
            return sortValue(index);
        case kSizeBytesRole:
        case kParametersRole:
        case kStoredBytesRole: {
            const NodePtr node = nodeAt(index);
            if (!node || !hasNumbers(*node)) return {};
            const std::optional<NodeRollup> rollup = rollupAt(index);
            if (!rollup) return {};
            if (role == kSizeBytesRole) return QVariant::fromValue<qulonglong>(rollup->memoryBytes);
            if (role == kParametersRole) {
                return QVariant::fromValue<qulonglong>(rollup->parameterCount);
            }
            if (!m_rollups) return {};
            return QVariant::fromValue<qulonglong>(rollup->storedBytes);
        }
        case kNodeKindRole: {
            const NodePtr node = nodeAt(index);
            return node ? QVariant(static_cast<int>(node->kind())) : QVariant();
        }
        default:
            return {};
    }
}

QVariant TreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::TextAlignmentRole && isNumberColumn(section)) {
        return QVariant::fromValue(Qt::Alignment(Qt::AlignRight | Qt::AlignVCenter));
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
            case kParametersColumn:
                return tr("Elements of the arrays and scalars in the subtree");
            case kSizeColumn:
                return tr("Bytes the subtree takes in memory once restored");
            case kStoredColumn:
                return tr("Bytes the subtree's arrays take on disk, after compression "
                          "(\u2265: some arrays' stored sizes are unknown)");
            case kShareColumn:
                return tr("The subtree's share of the checkpoint's bytes on disk");
            default:
                return {};
        }
    }
    if (role != Qt::DisplayRole) return {};
    switch (section) {
        case kNameColumn:
            return tr("Name");
        case kKindColumn:
            return tr("Kind");
        case kDTypeColumn:
            return tr("DType");
        case kShapeColumn:
            return tr("Shape");
        case kParametersColumn:
            return tr("Parameters");
        case kSizeColumn:
            return tr("Size");
        case kStoredColumn:
            return tr("On disk");
        case kShareColumn:
            return tr("% of disk");
        default:
            return {};
    }
}

Qt::ItemFlags TreeModel::flags(const QModelIndex& index) const {
    if (!index.isValid()) return Qt::NoItemFlags;
    Qt::ItemFlags result = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
    // Called for every row when a container is expanded: no shared_ptr copy here.
    const NodePtr& node = childNode(containerOf(index), index.row());
    if (node && node->isLeaf()) result |= Qt::ItemNeverHasChildren;
    if (m_renamable) {
        result |= Qt::ItemIsDragEnabled;
        if (node && node->isContainer()) result |= Qt::ItemIsDropEnabled;
    }
    if (m_renamable && index.column() == kNameColumn) {
        const Container* parent = containerOf(index);
        if (parent && parent->node && parent->node->kind() == NodeKind::kDict) {
            result |= Qt::ItemIsEditable;
        }
    }
    return result;
}

bool TreeModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (role != Qt::EditRole || !(flags(index) & Qt::ItemIsEditable)) return false;
    const QString newKey = value.toString();
    if (newKey == displayText(index)) return false;
    // Not applied here: the edit layer renames and hands back a new tree.
    emit renameRequested(keyPathAt(index), newKey);
    return false;
}

namespace {

constexpr char kNodeMime[] = "application/x-ckpt-studio-node";

}  // namespace

QStringList TreeModel::mimeTypes() const { return {QString::fromLatin1(kNodeMime)}; }

Qt::DropActions TreeModel::supportedDropActions() const {
    return Qt::MoveAction | Qt::CopyAction;
}

Qt::DropActions TreeModel::supportedDragActions() const {
    return Qt::MoveAction | Qt::CopyAction;
}

QMimeData* TreeModel::mimeData(const QModelIndexList& indexes) const {
    for (const QModelIndex& index : indexes) {
        if (!index.isValid() || index.column() != kNameColumn) continue;
        QByteArray payload;
        QDataStream out(&payload, QIODevice::WriteOnly);
        out << quint64(reinterpret_cast<quintptr>(this))
            << toQString(formatKeyPath(keyPathAt(index)));
        auto* data = new QMimeData;
        data->setData(QString::fromLatin1(kNodeMime), payload);
        data->setText(toQString(formatKeyPath(keyPathAt(index))));
        return data;  // one node per drag
    }
    return nullptr;
}

std::pair<const TreeModel*, KeyPath> TreeModel::dragSource(const QMimeData* data) {
    if (!data || !data->hasFormat(QString::fromLatin1(kNodeMime))) return {nullptr, {}};
    QDataStream in(data->data(QString::fromLatin1(kNodeMime)));
    quint64 address = 0;
    QString path;
    in >> address >> path;
    const auto* model = reinterpret_cast<const TreeModel*>(static_cast<quintptr>(address));
    if (in.status() != QDataStream::Ok || !liveModels().contains(model)) return {nullptr, {}};
    auto keyPath = parseKeyPath(path.toStdString());
    if (!keyPath.isOk()) return {nullptr, {}};
    return {model, std::move(keyPath).value()};
}

bool TreeModel::canDropMimeData(const QMimeData* data, Qt::DropAction, int, int,
                                const QModelIndex& parent) const {
    if (!m_renamable || !dragSource(data).first) return false;
    if (!parent.isValid()) return m_root && m_root->isContainer();
    const NodePtr node = nodeAt(parent);
    return node && node->isContainer();
}

bool TreeModel::dropMimeData(const QMimeData* data, Qt::DropAction action, int row, int column,
                             const QModelIndex& parent) {
    if (!canDropMimeData(data, action, row, column, parent)) return false;
    auto [source, from] = dragSource(data);
    emit dropRequested(source, from, parent.isValid() ? keyPathAt(parent) : KeyPath{}, row);
    return false;  // the edit layer applies it (and the view must not remove the dragged row)
}

void TreeModel::setEditedPaths(std::vector<KeyPath> paths) {
    std::sort(paths.begin(), paths.end());
    if (paths == m_edited) return;
    m_edited = std::move(paths);
    const int rows = rowCount();
    if (rows > 0) emit dataChanged(index(0, kNameColumn), index(rows - 1, kNameColumn),
                                   {Qt::FontRole, Qt::ForegroundRole});
}

TreeModel::EditMark TreeModel::editMark(const QModelIndex& index) const {
    const KeyPath path = keyPathAt(index);
    auto it = std::lower_bound(m_edited.begin(), m_edited.end(), path);
    if (it == m_edited.end()) return EditMark::kNone;
    if (*it == path) return EditMark::kEdited;
    // The first path at or after `path` starts with it: an edit below this node.
    if (it->size() > path.size() && std::equal(path.begin(), path.end(), it->begin())) {
        return EditMark::kContainsEdit;
    }
    return EditMark::kNone;
}

}  // namespace ckpt::ui
