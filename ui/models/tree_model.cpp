#include "models/tree_model.h"

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

QString dtypeText(const Node& node) {
    switch (node.kind()) {
        case NodeKind::kArray:
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

bool hasSize(const Node& node) {
    return node.isContainer() || node.kind() == NodeKind::kArray ||
           node.kind() == NodeKind::kScalar;
}

std::uint64_t leafBytes(const Node& node) {
    switch (node.kind()) {
        case NodeKind::kArray:
            return node.array() ? node.array()->byteSize() : 0;
        case NodeKind::kScalar:
            return itemSize(node.scalarDType());
        default:
            return 0;
    }
}

QString truncated(const std::string& text) {
    QString result = toQString(text);
    if (result.size() > kMaxToolTipText) {
        result.truncate(kMaxToolTipText);
        result += QChar(0x2026);  // …
    }
    return result;
}

}  // namespace

// The wrapper of one container whose children are (or have been) asked for. Rows under it are
// addressed as (this, row); wrappers of its child containers are made on demand.
struct TreeModel::Container {
    NodePtr node;  // a dict, list or tuple
    Container* parent = nullptr;
    int row = 0;  // this container's row under `parent`
    std::unordered_map<int, std::unique_ptr<Container>> children;
    std::optional<std::uint64_t> sizeBytes;
};

TreeModel::TreeModel(QObject* parent) : QAbstractItemModel(parent) {}

TreeModel::~TreeModel() = default;

void TreeModel::setRoot(NodePtr root) {
    beginResetModel();
    m_root = std::move(root);
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

std::uint64_t TreeModel::sizeBytesAt(const QModelIndex& index) const {
    Container* container = containerOf(index);
    if (!container) return 0;
    const NodePtr& node = childNode(container, index.row());
    if (!node) return 0;
    if (!node->isContainer()) return leafBytes(*node);
    Container* child = childContainer(container, index.row());
    if (!child->sizeBytes) child->sizeBytes = summarizeNode(*node).byteCount;
    return *child->sizeBytes;
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
            return toQString(nodeKindName(node->kind()));
        case kDTypeColumn:
            return dtypeText(*node);
        case kShapeColumn:
            return shapeText(*node);
        case kSizeColumn:
            return hasSize(*node) ? humanBytes(sizeBytesAt(index)) : QString();
        default:
            return {};
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
        {
            auto value = node->loadScalar();
            const std::string text = value.isOk() ? value->toText()
                                                  : "unreadable: " + value.status().message();
            detail = tr("%1 = %2").arg(dtypeText(*node), toQString(text).toHtmlEscaped());
        }
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
            detail = QStringLiteral("%1 %2, %3")
                         .arg(dtypeText(*node), shapeText(*node), humanBytes(sizeBytesAt(index)));
            break;
        case NodeKind::kDict:
        case NodeKind::kList:
        case NodeKind::kTuple:
            detail = QStringLiteral("%1, %2, %3")
                         .arg(toQString(nodeKindName(node->kind())), shapeText(*node),
                              humanBytes(sizeBytesAt(index)));
            break;
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
        case Qt::ForegroundRole:
            // Container counts ("3 keys") are secondary to real shapes; mute them.
            if (index.column() == kShapeColumn) {
                const NodePtr node = nodeAt(index);
                if (node && node->isContainer()) {
                    return QGuiApplication::palette().brush(QPalette::PlaceholderText);
                }
            }
            return {};
        case Qt::TextAlignmentRole:
            if (index.column() == kSizeColumn) {
                return QVariant::fromValue(Qt::Alignment(Qt::AlignRight | Qt::AlignVCenter));
            }
            return {};
        case kKeyPathRole:
            return toQString(formatKeyPath(keyPathAt(index)));
        case kSizeBytesRole:
            return QVariant::fromValue<qulonglong>(sizeBytesAt(index));
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
    if (role == Qt::TextAlignmentRole && section == kSizeColumn) {
        return QVariant::fromValue(Qt::Alignment(Qt::AlignRight | Qt::AlignVCenter));
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
        case kSizeColumn:
            return tr("Size");
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
    return result;
}

}  // namespace ckpt::ui
