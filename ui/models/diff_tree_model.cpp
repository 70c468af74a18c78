#include "models/diff_tree_model.h"

#include <QColor>
#include <QFont>
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "bridge/qt_convert.h"
#include "ckpt/core/array.h"
#include "ckpt/core/dtype.h"
#include "models/display_text.h"

namespace ckpt::ui {

namespace {

// Most severe first; a container row takes the most severe change below it.
int severity(DiffChange change) {
    switch (change) {
        case DiffChange::kOnlyInA:
        case DiffChange::kOnlyInB:
        case DiffChange::kKindChanged:
        case DiffChange::kDTypeChanged:
        case DiffChange::kShapeChanged: return 4;
        case DiffChange::kValuesDiffer: return 3;
        case DiffChange::kNotCompared: return 2;
        case DiffChange::kEqual: return 1;
    }
    return 0;
}

bool isDifference(DiffChange change) {
    return change != DiffChange::kEqual && change != DiffChange::kNotCompared;
}

// Translucent tints: they sit on the base colour of either palette.
QColor tintFor(DiffChange change) {
    switch (change) {
        case DiffChange::kOnlyInA: return QColor(220, 50, 47, 70);
        case DiffChange::kOnlyInB: return QColor(40, 160, 60, 70);
        case DiffChange::kKindChanged:
        case DiffChange::kDTypeChanged:
        case DiffChange::kShapeChanged: return QColor(230, 130, 20, 80);
        case DiffChange::kValuesDiffer: return QColor(220, 190, 20, 70);
        case DiffChange::kNotCompared: return QColor(128, 128, 128, 60);
        case DiffChange::kEqual: break;
    }
    return {};
}

QString number(double value, int precision = 4) {
    if (std::isnan(value)) return QStringLiteral("nan");
    if (std::isinf(value)) return value > 0 ? QStringLiteral("inf") : QStringLiteral("-inf");
    return QString::number(value, 'g', precision);
}

}  // namespace

struct DiffTreeModel::Row {
    QString key;
    KeyPath path;
    int entry = -1;  // index into m_diff.entries; -1 for an ancestor made for its children
    Row* parent = nullptr;
    int row = 0;
    std::vector<std::unique_ptr<Row>> children;
    std::map<std::string, Row*> byKey;  // children by key
    // Over this row and the rows below: the most severe change, and how many entries differ.
    DiffChange worst = DiffChange::kEqual;
    int differing = 0;
};

DiffTreeModel::DiffTreeModel(QObject* parent)
    : QAbstractItemModel(parent), m_root(std::make_unique<Row>()) {}

DiffTreeModel::~DiffTreeModel() = default;

void DiffTreeModel::clear() { setDiff(TreeDiff{}); }

void DiffTreeModel::setDiff(TreeDiff diff) {
    beginResetModel();
    m_diff = std::move(diff);
    m_root = std::make_unique<Row>();
    for (std::size_t i = 0; i < m_diff.entries.size(); ++i) {
        const DiffEntry& entry = m_diff.entries[i];
        Row* at = m_root.get();
        for (std::size_t depth = 0; depth < entry.path.size(); ++depth) {
            const std::string& key = entry.path[depth];
            auto found = at->byKey.find(key);
            if (found == at->byKey.end()) {
                auto child = std::make_unique<Row>();
                child->key = toQString(key);
                child->path.assign(entry.path.begin(),
                                   entry.path.begin() + static_cast<std::ptrdiff_t>(depth) + 1);
                child->parent = at;
                child->row = static_cast<int>(at->children.size());
                found = at->byKey.emplace(key, child.get()).first;
                at->children.push_back(std::move(child));
            }
            at = found->second;
        }
        if (at == m_root.get()) continue;  // a root-level entry (kind change of the root)
        at->entry = static_cast<int>(i);
        // Propagate to the row and its ancestors.
        for (Row* up = at; up; up = up->parent) {
            if (severity(entry.change) > severity(up->worst)) up->worst = entry.change;
            if (isDifference(entry.change)) ++up->differing;
        }
    }
    endResetModel();
}

DiffTreeModel::Row* DiffTreeModel::rowFor(const QModelIndex& index) const {
    return index.isValid() ? static_cast<Row*>(index.internalPointer()) : m_root.get();
}

const DiffEntry* DiffTreeModel::entry(const QModelIndex& index) const {
    const Row* row = index.isValid() ? rowFor(index) : nullptr;
    if (!row || row->entry < 0) return nullptr;
    return &m_diff.entries[static_cast<std::size_t>(row->entry)];
}

KeyPath DiffTreeModel::keyPath(const QModelIndex& index) const {
    return index.isValid() ? rowFor(index)->path : KeyPath{};
}

QModelIndex DiffTreeModel::indexForPath(const KeyPath& path) const {
    const Row* at = m_root.get();
    for (const std::string& key : path) {
        const auto found = at->byKey.find(key);
        if (found == at->byKey.end()) return {};
        at = found->second;
    }
    if (at == m_root.get()) return {};
    return createIndex(at->row, 0, const_cast<Row*>(at));
}

QModelIndex DiffTreeModel::index(int row, int column, const QModelIndex& parent) const {
    if (row < 0 || column < 0 || column >= kColumnCount) return {};
    const Row* at = rowFor(parent);
    if (static_cast<std::size_t>(row) >= at->children.size()) return {};
    return createIndex(row, column, at->children[static_cast<std::size_t>(row)].get());
}

QModelIndex DiffTreeModel::parent(const QModelIndex& child) const {
    if (!child.isValid()) return {};
    const Row* up = rowFor(child)->parent;
    if (!up || up == m_root.get()) return {};
    return createIndex(up->row, 0, const_cast<Row*>(up));
}

int DiffTreeModel::rowCount(const QModelIndex& parent) const {
    if (parent.isValid() && parent.column() != 0) return 0;
    return static_cast<int>(rowFor(parent)->children.size());
}

int DiffTreeModel::columnCount(const QModelIndex&) const { return kColumnCount; }

QString DiffTreeModel::changeText(DiffChange change) {
    switch (change) {
        case DiffChange::kOnlyInA: return tr("only in A");
        case DiffChange::kOnlyInB: return tr("only in B");
        case DiffChange::kKindChanged: return tr("kind changed");
        case DiffChange::kDTypeChanged: return tr("dtype changed");
        case DiffChange::kShapeChanged: return tr("shape changed");
        case DiffChange::kValuesDiffer: return tr("values differ");
        case DiffChange::kEqual: return tr("bit-equal");
        case DiffChange::kNotCompared: return tr("not compared");
    }
    return {};
}

QString DiffTreeModel::sideText(const DiffSide& side) {
    switch (side.kind) {
        case NodeKind::kArray:
        case NodeKind::kScalar: {
            const QString dtype = side.dtype ? toQString(dtypeName(*side.dtype)) : QString();
            if (side.kind == NodeKind::kScalar) return tr("%1 scalar").arg(dtype);
            return dtype + toQString(formatShape(side.shape));
        }
        case NodeKind::kDict:
        case NodeKind::kList:
        case NodeKind::kTuple:
            return tr("%1 (%2)").arg(toQString(nodeKindName(side.kind)),
                                     countedNoun(side.leafCount, tr("leaf"), tr("leaves")));
        default: return toQString(nodeKindName(side.kind));
    }
}

QVariant DiffTreeModel::rowText(const Row& row, int column) const {
    const DiffEntry* e =
        row.entry >= 0 ? &m_diff.entries[static_cast<std::size_t>(row.entry)] : nullptr;
    switch (column) {
        case kKeyColumn: return row.key;
        case kAColumn: return e && e->a ? sideText(*e->a) : QString();
        case kBColumn: return e && e->b ? sideText(*e->b) : QString();
        case kChangeColumn:
            if (e && row.children.empty()) return changeText(e->change);
            if (row.differing == 0) {
                return row.worst == DiffChange::kNotCompared ? tr("not compared") : tr("equal");
            }
            return countedNoun(static_cast<std::uint64_t>(row.differing), tr("difference"),
                               tr("differences"));
        default: break;
    }
    if (!e || !e->values || !e->values->hasNumbers) return {};
    const ValueDiff& v = *e->values;
    switch (column) {
        case kMaxAbsColumn: return number(v.maxAbsDiff);
        case kMaxRelColumn: return number(v.maxRelDiff);
        case kCosineColumn: return number(v.cosine, 6);
        case kNormRatioColumn: return number(v.normRatio, 6);
        default: return {};
    }
}

QVariant DiffTreeModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid()) return {};
    const Row& row = *rowFor(index);
    const DiffEntry* e =
        row.entry >= 0 ? &m_diff.entries[static_cast<std::size_t>(row.entry)] : nullptr;
    switch (role) {
        case Qt::DisplayRole: return rowText(row, index.column());
        case Qt::ToolTipRole:
            if (e && !e->error.empty()) return toQString(e->error);
            if (e && e->values && e->values->hasNumbers) {
                const ValueDiff& v = *e->values;
                return tr("%1 of %2 elements differ; max |b\u2212a| %3; cosine %4; "
                          "\u2016a\u2016 %5, \u2016b\u2016 %6")
                    .arg(groupedCount(v.changed), groupedCount(v.count), number(v.maxAbsDiff),
                         number(v.cosine, 8), number(v.normA, 6), number(v.normB, 6));
            }
            return {};
        case Qt::BackgroundRole: {
            // Entries carry the tint; containers only summarise (in the Change column's text).
            if (!e) return {};
            const QColor tint = tintFor(e->change);
            return tint.isValid() ? QVariant(tint) : QVariant();
        }
        case Qt::FontRole:
            if (!e && row.differing > 0 && index.column() == kChangeColumn) {
                QFont font;
                font.setItalic(true);
                return font;
            }
            return {};
        case Qt::TextAlignmentRole:
            if (index.column() >= kMaxAbsColumn) {
                return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
            }
            return {};
        case kKeyPathRole: return toQString(formatKeyPath(row.path));
        case kDifferentRole: return row.differing > 0;
        case kChangeRole: return e ? static_cast<int>(e->change) : -1;
        default: return {};
    }
}

QVariant DiffTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
        case kKeyColumn: return tr("Key");
        case kAColumn: return tr("A");
        case kBColumn: return tr("B");
        case kChangeColumn: return tr("Change");
        case kMaxAbsColumn: return tr("Max |B\u2212A|");
        case kMaxRelColumn: return tr("Max rel.");
        case kCosineColumn: return tr("Cosine");
        case kNormRatioColumn: return tr("\u2016B\u2016/\u2016A\u2016");
        default: return {};
    }
}

DiffFilterProxy::DiffFilterProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setRecursiveFilteringEnabled(true);
}

void DiffFilterProxy::setDifferencesOnly(bool only) {
    if (only == m_differencesOnly) return;
    m_differencesOnly = only;
    invalidateRowsFilter();
}

void DiffFilterProxy::setPathText(const QString& text) {
    if (text == m_pathText) return;
    m_pathText = text;
    invalidateRowsFilter();
}

bool DiffFilterProxy::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    const QModelIndex index = sourceModel()->index(sourceRow, 0, sourceParent);
    if (m_differencesOnly) {
        // Recursive filtering keeps the ancestors; a row is itself a difference only if no row
        // below it is one (a container's flag summarises its children).
        if (sourceModel()->rowCount(index) > 0) return false;
        if (!index.data(DiffTreeModel::kDifferentRole).toBool()) return false;
    }
    if (!m_pathText.isEmpty()) {
        return index.data(DiffTreeModel::kKeyPathRole)
            .toString()
            .contains(m_pathText, Qt::CaseInsensitive);
    }
    return true;
}

}  // namespace ckpt::ui
