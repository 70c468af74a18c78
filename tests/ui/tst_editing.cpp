// Editing in the GUI: edits driven through the tree model and the page's actions, undone and
// redone through the undo stack, with the edited marks, the dirty title and the saves (Save As in
// several formats, save over the opened path, a cancelled save) read back and compared with the
// engine; a recipe exported from the GUI replays through `ckpt apply` to the same bytes.
#include <QLineEdit>
#include <QMimeData>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTableView>
#include <QTabWidget>
#include <QTreeView>
#include <cstring>
#include <QUndoGroup>
#include <QUndoStack>
#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "bridge/qt_convert.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/diff.h"
#include "ckpt/core/edit.h"
#include "ckpt/core/format.h"
#include "commands.h"
#include "edit/edit_controller.h"
#include "edit/edit_dialogs.h"
#include "models/tree_model.h"
#include "views/checkpoint_page.h"
#include "previews/array_preview.h"
#include "views/main_window.h"
#include "tests/test_util.h"

using namespace ckpt;
using ckpt::ui::CheckpointPage;
using ckpt::ui::toQString;
using ckpt::ui::MainWindow;
using ckpt::ui::TreeModel;
namespace fs = std::filesystem;

namespace {

constexpr int kTimeoutMs = 20'000;

bool openAndWait(MainWindow& w, const QString& path) {
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    if (!w.openPath(path, MainWindow::Recent::kSkip)) return false;
    return QTest::qWaitFor([&] { return !opened.isEmpty(); }, kTimeoutMs) &&
           QTest::qWaitFor([&] { return w.currentPage()->hasRollups(); }, kTimeoutMs);
}

// Saves and waits for the tab to show the saved checkpoint; the save's status.
Status saveAndWait(CheckpointPage& page, const QString& target, const QString& format,
                   bool overwrite) {
    QSignalSpy finished(&page, &CheckpointPage::saveFinished);
    QSignalSpy opened(&page, &CheckpointPage::opened);
    page.saveAs(target, format, overwrite);
    if (!QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs)) {
        return internalError("save timed out");
    }
    const Status status = finished.front().at(1).value<Status>();
    if (status.isOk() && !QTest::qWaitFor([&] { return !opened.isEmpty(); }, kTimeoutMs)) {
        return internalError("the saved checkpoint did not open");
    }
    return status;
}

bool identicalTrees(const NodePtr& a, const NodePtr& b) {
    auto d = diffTrees(a, b, DiffOptions{});
    return d.isOk() && d->identical();
}

QModelIndex viewIndex(CheckpointPage& page, const KeyPath& path) {
    page.selectKeyPath(path);
    return page.treeView()->currentIndex();
}

std::string fileBytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// Every file under `root` (relative path -> bytes).
std::map<std::string, std::string> treeBytes(const fs::path& root) {
    std::map<std::string, std::string> out;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        if (entry.is_regular_file()) {
            out[fs::relative(entry.path(), root).string()] = fileBytes(entry.path());
        }
    }
    return out;
}

}  // namespace

class TestEditing : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { qRegisterMetaType<ckpt::Status>("ckpt::Status"); }

    void editsUndoRedoMarksAndSave() {
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString());
        const fs::path source = dir / "source";
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), source, "orbax"));
        const std::map<std::string, std::string> sourceBefore = treeBytes(source);
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setConfirmDiscard(false);
        QVERIFY(openAndWait(w, toQString(source.string())));
        CheckpointPage& page = *w.currentPage();
        QUndoStack* stack = page.edits()->undoStack();
        QCOMPARE(w.undoGroup()->activeStack(), stack);
        QVERIFY(!page.isModified());

        // Rename through the model, as the tree's in-place editor does.
        const QModelIndex config = viewIndex(page, {"config"});
        QVERIFY(config.flags() & Qt::ItemIsEditable);
        QVERIFY(!page.treeView()->model()->setData(config, QStringLiteral("settings")));
        QVERIFY(findNode(page.editedRoot(), {"settings", "model"}).isOk());
        QCOMPARE(page.currentKeyPath(), std::optional<KeyPath>(KeyPath{"settings"}));
        QVERIFY(page.isModified());
        QVERIFY(w.windowTitle().contains(QLatin1Char('*')));
        QVERIFY(w.tabs()->tabText(0).endsWith(QStringLiteral(" *")));
        // The renamed node shows bold, the root of nothing else is marked.
        const QModelIndex settings = page.treeView()->currentIndex();
        QVERIFY(settings.data(Qt::FontRole).value<QFont>().bold());
        QVERIFY(!viewIndex(page, {"params"}).data(Qt::FontRole).isValid());
        // List items are not renamable.
        page.treeView()->expand(viewIndex(page, {"data"}));
        QVERIFY(!(viewIndex(page, {"data", "0"}).flags() & Qt::ItemIsEditable));

        // Delete, duplicate, add, cast, convert through the page's actions and edits.
        page.selectKeyPath({"opt_state"});
        page.deleteCurrent();
        QVERIFY(!findNode(page.editedRoot(), {"opt_state"}).isOk());
        page.selectKeyPath({"params", "Dense_0", "bias"});
        page.duplicateCurrent();
        QVERIFY(findNode(page.editedRoot(), {"params", "Dense_0", "bias_copy"}).isOk());
        QCOMPARE(page.currentKeyPath(),
                 std::optional<KeyPath>(KeyPath{"params", "Dense_0", "bias_copy"}));
        // An ancestor of an edit is italic.
        QVERIFY(viewIndex(page, {"params"}).data(Qt::FontRole).value<QFont>().italic());
        CKPT_VERIFY_OK(page.applyEdit(
            Edit::add({"batch_stats"}, NodeSpec::zeros(DType::kFloat32, {2, 3})),
            KeyPath{"batch_stats"}));
        CKPT_VERIFY_OK(page.applyEdit(Edit::cast({"params", "Dense_0", "kernel"},
                                                   DType::kBFloat16)));
        CKPT_VERIFY_OK(page.applyEdit(Edit::convert({"data"}, NodeKind::kTuple)));
        QCOMPARE(stack->count(), 6);
        // A refused edit changes nothing and says why.
        QSignalSpy failed(&page, &CheckpointPage::editFailed);
        QVERIFY(!page.applyEdit(Edit::rename({"settings"}, "params")).isOk());
        QCOMPARE(failed.count(), 1);
        QVERIFY(failed.front().front().toString().contains(QStringLiteral("params")));
        QCOMPARE(stack->count(), 6);

        // For the README and for looking at: the window with these edits.
        if (const QString shots = qEnvironmentVariable("CKPT_SCREENSHOT_DIR"); !shots.isEmpty()) {
            w.resize(1280, 800);
            w.show();
            page.treeView()->expand(viewIndex(page, {"params"}));
            page.treeView()->expand(viewIndex(page, {"params", "Dense_0"}));
            page.selectKeyPath({"params", "Dense_0", "kernel"});
            QTest::qWait(500);
            QVERIFY(w.grab().save(shots + QStringLiteral("/editing.png")));
        }

        // Undo and redo through the window's undo group.
        const NodePtr edited = page.editedRoot();
        w.undoGroup()->undo();
        QCOMPARE((*findNode(page.editedRoot(), {"data"}))->kind(), NodeKind::kList);
        w.undoGroup()->undo();
        QCOMPARE((*findNode(page.editedRoot(), {"params", "Dense_0", "kernel"}))->array()->dtype(),
                 DType::kFloat32);
        w.undoGroup()->redo();
        w.undoGroup()->redo();
        QCOMPARE(page.editedRoot(), edited);
        // Undo everything: clean again, the tree is the opened one.
        for (int i = 0; i < 6; ++i) stack->undo();
        QVERIFY(!page.isModified());
        QVERIFY(!w.windowTitle().contains(QLatin1Char('*')));
        QCOMPARE(page.editedRoot(), page.checkpoint()->tree);
        for (int i = 0; i < 6; ++i) stack->redo();
        QCOMPARE(page.editedRoot(), edited);

        // The recipe of the GUI's edits, and what applying it in the engine gives.
        auto recipe = page.edits()->recipeJson();
        CKPT_VERIFY_OK(recipe);
        const fs::path recipePath = dir / "recipe.json";
        std::ofstream(recipePath) << *recipe;

        // Save As flax msgpack: the tab shows the saved file, clean, with the edited values.
        const fs::path saved = dir / "edited.msgpack";
        CKPT_VERIFY_OK(saveAndWait(page, toQString(saved.string()), QStringLiteral("flax"), false));
        QCOMPARE(page.path(), toQString(saved.string()));
        QVERIFY(!page.isModified());
        auto reopened = openCheckpoint(saved);
        CKPT_VERIFY_OK(reopened);
        // The same as the engine writing the edited tree itself (flax msgpack has its own
        // container encoding, so the comparison is between two reads of that format)...
        const fs::path engine = dir / "engine.msgpack";
        CKPT_VERIFY_OK(writeCheckpoint(edited, engine, "flax"));
        auto expected = openCheckpoint(engine);
        CKPT_VERIFY_OK(expected);
        QVERIFY(identicalTrees(reopened->tree, expected->tree));
        // ...with the edits in it.
        QCOMPARE((*findNode(reopened->tree, {"params", "Dense_0", "kernel"}))->array()->dtype(),
                 DType::kBFloat16);
        QCOMPARE((*findNode(reopened->tree, {"batch_stats"}))->array()->shape(), (Shape{2, 3}));
        QVERIFY(identicalTrees(*findNode(reopened->tree, {"params", "Dense_0", "bias_copy"}),
                               *findNode(makeDemoTrainState(), {"params", "Dense_0", "bias"})));
        QVERIFY(!findNode(reopened->tree, {"opt_state"}).isOk());
        QVERIFY(findNode(reopened->tree, {"settings", "model"}).isOk());
        // The source was not touched.
        QCOMPARE(treeBytes(source), sourceBefore);

        // `ckpt apply` of the GUI's recipe writes the same bytes.
        cli::ApplyArgs args;
        args.recipe = recipePath;
        args.source.path = source;
        args.target = dir / "applied.msgpack";
        args.to = "flax";
        std::ostringstream out, err;
        QCOMPARE(cli::runApply(args, out, err), 0);
        QCOMPARE(fileBytes(args.target), fileBytes(saved));
    }

    void cellsScalarsAndStringsAreEdited() {
        QTemporaryDir tmp;
        const fs::path source = fs::path(tmp.path().toStdString()) / "source";
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), source, "orbax"));
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setConfirmDiscard(false);
        QVERIFY(openAndWait(w, toQString(source.string())));
        CheckpointPage& page = *w.currentPage();
        ckpt::ui::ArrayPreview& preview = *page.arrayPreview();
        // A cell typed in the Table tab of params/Dense_0/kernel (5 x 3): row 4, column 2.
        QSignalSpy pageRead(&preview, &ckpt::ui::ArrayPreview::pageFinished);
        QVERIFY(page.selectKeyPath({"params", "Dense_0", "kernel"}));
        preview.tabs()->setCurrentIndex(ckpt::ui::ArrayPreview::kTableTab);
        QVERIFY(QTest::qWaitFor([&] { return !pageRead.isEmpty(); }, kTimeoutMs));
        QAbstractItemModel* table = preview.tableView()->model();
        QVERIFY(table->flags(table->index(4, 2)) & Qt::ItemIsEditable);
        pageRead.clear();
        QVERIFY(!table->setData(table->index(4, 2), QStringLiteral("42.5")));
        const NodePtr kernel = *findNode(page.editedRoot(), {"params", "Dense_0", "kernel"});
        auto values = kernel->array()->readAll();
        CKPT_VERIFY_OK(values);
        float cell = 0;
        std::memcpy(&cell, values->bytes().data() + (4 * 3 + 2) * sizeof(float), sizeof(float));
        QCOMPARE(cell, 42.5f);
        // The table shows the new value once its page is read again (the read of the page
        // before the edit is cancelled first).
        QTRY_COMPARE_WITH_TIMEOUT(preview.tableView()->model()->index(4, 2).data().toString(),
                                  QStringLiteral("42.5"), kTimeoutMs);
        QCOMPARE(preview.tabs()->currentIndex(), int(ckpt::ui::ArrayPreview::kTableTab));
        // A value that is not a number is refused, nothing changes.
        QSignalSpy failed(&page, &CheckpointPage::editFailed);
        const int edits = page.edits()->undoStack()->count();
        preview.tableView()->model()->setData(preview.tableView()->model()->index(0, 0),
                                              QStringLiteral("abc"));
        QCOMPARE(failed.count(), 1);
        QCOMPARE(page.edits()->undoStack()->count(), edits);
        // Scalars and strings through the edit layer (the dialog's parse is tested below).
        CKPT_VERIFY_OK(page.applyEdit(Edit::setScalar({"step"}, std::int64_t{7})));
        CKPT_VERIFY_OK(page.applyEdit(Edit::setString({"config", "model"}, "cnn")));
        QCOMPARE((*findNode(page.editedRoot(), {"step"}))->loadScalar()->toInt64(), std::int64_t{7});
        QCOMPARE((*findNode(page.editedRoot(), {"config", "model"}))->text(), std::string("cnn"));
        page.edits()->undoStack()->undo();
        QCOMPARE((*findNode(page.editedRoot(), {"config", "model"}))->text(), std::string("mlp"));
    }

    void exportsSelectionAndPresets() {
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString());
        const fs::path source = dir / "source";
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), source, "orbax"));
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(w, toQString(source.string())));
        CheckpointPage& page = *w.currentPage();
        // Two top-level rows selected, as Ctrl-click does.
        page.selectKeyPath({"step"});
        const QAbstractItemModel* shown = page.treeView()->model();
        for (int row = 0; row < shown->rowCount(); ++row) {
            if (shown->index(row, 0).data().toString() == QStringLiteral("config")) {
                page.treeView()->selectionModel()->select(
                    shown->index(row, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
            }
        }
        const std::vector<KeyPath> selected = page.selectedKeyPaths();
        QCOMPARE(selected, (std::vector<KeyPath>{{"config"}, {"step"}}));
        const auto presets = ckpt::ui::ExportDialog::presetsFor(page.editedRoot(), selected);
        QCOMPARE(presets.size(), std::size_t{3});
        QCOMPARE(presets[1].paths, (std::vector<KeyPath>{{"params"}}));
        std::vector<KeyPath> withoutOptimizer = presets[2].paths;
        std::sort(withoutOptimizer.begin(), withoutOptimizer.end());
        QCOMPARE(withoutOptimizer,
                 (std::vector<KeyPath>{{"config"}, {"data"}, {"params"}, {"step"}}));

        // "Parameters only", cast to bfloat16, as safetensors; the tab keeps its checkpoint.
        QSignalSpy finished(&page, &CheckpointPage::saveFinished);
        const fs::path target = dir / "params.safetensors";
        page.exportSubtrees(presets[1].paths, DType::kBFloat16, toQString(target.string()),
                            QStringLiteral("safetensors"));
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        CKPT_VERIFY_OK(finished.front().at(1).value<Status>());
        QCOMPARE(page.path(), toQString(source.string()));
        auto exported = openCheckpoint(target);
        CKPT_VERIFY_OK(exported);
        QCOMPARE(exported->tree->childCount(), std::size_t{1});
        QCOMPARE(exported->tree->childKey(0), std::string("params"));
        const NodePtr kernel = *findNode(exported->tree, {"params", "Dense_0", "kernel"});
        QCOMPARE(kernel->array()->dtype(), DType::kBFloat16);
        auto expected = ckpt::applyEdit(
            *selectSubtrees(makeDemoTrainState(), {{"params"}}), Edit::cast({}, DType::kBFloat16));
        CKPT_VERIFY_OK(expected);
        QVERIFY(identicalTrees(exported->tree, *expected));
        // The selection itself, as npz.
        finished.clear();
        const fs::path npz = dir / "selection.npz";
        page.exportSubtrees(selected, std::nullopt, toQString(npz.string()), QStringLiteral("npz"));
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        CKPT_VERIFY_OK(finished.front().at(1).value<Status>());
        auto npzRead = openCheckpoint(npz);
        CKPT_VERIFY_OK(npzRead);
        QVERIFY(findNode(npzRead->tree, {"config", "model"}).isOk() ||
                findNode(npzRead->tree, {"step"}).isOk());
        QVERIFY(!findNode(npzRead->tree, {"params"}).isOk());
    }

    void dragAndDropMovesWithinATabAndCopiesBetweenTabs() {
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString());
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), dir / "a", "orbax"));
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), dir / "b", "orbax"));
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setConfirmDiscard(false);
        QVERIFY(openAndWait(w, toQString((dir / "a").string())));
        CheckpointPage& a = *w.currentPage();
        QVERIFY(openAndWait(w, toQString((dir / "b").string())));
        CheckpointPage& b = *w.currentPage();
        QVERIFY(&a != &b);

        // Within a tab: params/Dense_0/bias dropped on config moves it there (QTreeView passes
        // row = column = -1 for a drop onto an item).
        QAbstractItemModel* view = a.treeView()->model();
        const QModelIndex bias = viewIndex(a, {"params", "Dense_0", "bias"});
        std::unique_ptr<QMimeData> drag(view->mimeData({bias}));
        QVERIFY(drag);
        const QModelIndex config = viewIndex(a, {"config"});
        QVERIFY(view->canDropMimeData(drag.get(), Qt::MoveAction, -1, -1, config));
        view->dropMimeData(drag.get(), Qt::MoveAction, -1, -1, config);
        QVERIFY(findNode(a.editedRoot(), {"config", "bias"}).isOk());
        QVERIFY(!findNode(a.editedRoot(), {"params", "Dense_0", "bias"}).isOk());
        QCOMPARE(a.edits()->undoStack()->count(), 1);
        QCOMPARE(a.currentKeyPath(), std::optional<KeyPath>(KeyPath{"config", "bias"}));
        // A leaf is no drop target.
        QVERIFY(!view->canDropMimeData(drag.get(), Qt::MoveAction, -1, -1,
                                       viewIndex(a, {"step"})));

        // Between tabs: a's (edited) config dropped on b's top level is copied in, under a free
        // key since b has its own config; a is unchanged.
        std::unique_ptr<QMimeData> fromA(view->mimeData({viewIndex(a, {"config"})}));
        QAbstractItemModel* viewB = b.treeView()->model();
        QVERIFY(viewB->canDropMimeData(fromA.get(), Qt::CopyAction, -1, -1, QModelIndex()));
        viewB->dropMimeData(fromA.get(), Qt::CopyAction, -1, -1, QModelIndex());
        QVERIFY(findNode(b.editedRoot(), {"config_2", "bias"}).isOk());
        QVERIFY(findNode(b.editedRoot(), {"config", "model"}).isOk());
        QCOMPARE(a.edits()->undoStack()->count(), 1);
        QCOMPARE(b.edits()->undoStack()->count(), 1);
        b.edits()->undoStack()->undo();
        QVERIFY(!findNode(b.editedRoot(), {"config_2"}).isOk());
        // A drag whose model is gone is ignored.
        w.closePage(0);
        QTest::qWait(50);  // deleteLater
        QVERIFY(!viewB->canDropMimeData(fromA.get(), Qt::CopyAction, -1, -1, QModelIndex()));
    }

    void saveOverTheOpenedPathSwapsItIn() {
        QTemporaryDir tmp;
        const fs::path path = fs::path(tmp.path().toStdString()) / "model.safetensors";
        NodePtr flat = Node::makeDict({{"w", *findNode(makeDemoTrainState(), {"params", "Dense_0", "kernel"})},
                                       {"b", *findNode(makeDemoTrainState(), {"params", "Dense_0", "bias"})}});
        CKPT_VERIFY_OK(writeCheckpoint(flat, path, "safetensors"));
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setConfirmDiscard(false);
        QVERIFY(openAndWait(w, toQString(path.string())));
        CheckpointPage& page = *w.currentPage();
        CKPT_VERIFY_OK(page.applyEdit(Edit::remove({"b"})));
        CKPT_VERIFY_OK(saveAndWait(page, toQString(path.string()), QStringLiteral("safetensors"), true));
        auto reread = openCheckpoint(path);
        CKPT_VERIFY_OK(reread);
        QCOMPARE(reread->tree->childCount(), std::size_t{1});
        QCOMPARE(reread->tree->childKey(0), std::string("w"));
        // Nothing else is left beside it.
        QCOMPARE(std::distance(fs::directory_iterator(path.parent_path()), fs::directory_iterator()),
                 std::ptrdiff_t{1});
    }

    void cancelledSaveLeavesNothing() {
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString());
        const fs::path source = dir / "source.safetensors";
        CKPT_VERIFY_OK(writeCheckpoint(Node::makeDict({{"w", *findNode(makeDemoTrainState(), {"params", "Dense_0", "kernel"})}}),
                                         source, "safetensors"));
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setConfirmDiscard(false);
        QVERIFY(openAndWait(w, toQString(source.string())));
        CheckpointPage& page = *w.currentPage();
        // 512 MiB of zeros (a lazy constant: nothing in memory until written).
        CKPT_VERIFY_OK(page.applyEdit(
            Edit::add({"big"}, NodeSpec::zeros(DType::kFloat32, {128, 1024, 1024}))));
        QSignalSpy finished(&page, &CheckpointPage::saveFinished);
        const fs::path target = dir / "target";
        page.saveAs(toQString(target.string()), QStringLiteral("orbax"), false);
        QVERIFY(page.isSaving());
        page.cancelSave();
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        QCOMPARE(finished.front().at(1).value<Status>().code(), StatusCode::kCancelled);
        QVERIFY(!page.isSaving());
        QVERIFY(page.isModified());  // still unsaved
        // Nothing but the source is in the directory.
        QCOMPARE(std::distance(fs::directory_iterator(dir), fs::directory_iterator()),
                 std::ptrdiff_t{1});
    }

    void dialogsParseAndPreview() {
        using ckpt::ui::parseEditValue;
        using ckpt::ui::parseShape;
        QCOMPARE(parseShape(QStringLiteral("(3, 4)")), std::optional<Shape>(Shape{3, 4}));
        QCOMPARE(parseShape(QString()), std::optional<Shape>(Shape{}));
        QVERIFY(!parseShape(QStringLiteral("3, -1")));
        QVERIFY(!parseShape(QStringLiteral("3, x")));
        QCOMPARE(std::get<std::int64_t>(*parseEditValue(QStringLiteral("-3"))), std::int64_t{-3});
        QCOMPARE(std::get<std::uint64_t>(*parseEditValue(QStringLiteral("18446744073709551615"))),
                 std::uint64_t{18446744073709551615ULL});
        QCOMPARE(std::get<double>(*parseEditValue(QStringLiteral("0.5"))), 0.5);
        QVERIFY(std::get<bool>(*parseEditValue(QStringLiteral("True"))));
        QVERIFY(std::isnan(std::get<double>(*parseEditValue(QStringLiteral("nan")))));
        QVERIFY(!parseEditValue(QStringLiteral("1.5x")));

        ckpt::ui::AddNodeDialog add(NodeKind::kDict);
        add.keyEdit()->setText(QStringLiteral("x"));
        add.shapeEdit()->setText(QStringLiteral("2,2"));
        QString error;
        auto spec = add.spec(&error);
        QVERIFY(spec);
        QCOMPARE(spec->kind, NodeSpec::Kind::kZeros);
        QCOMPARE(spec->shape, (Shape{2, 2}));
        add.shapeEdit()->setText(QStringLiteral("2,-2"));
        QVERIFY(!add.spec(&error));
        QVERIFY(!error.isEmpty());

        // The cast preview: float32 values that bfloat16 cannot hold exactly.
        const NodePtr kernel = *findNode(makeDemoTrainState(), {"params", "Dense_0", "kernel"});
        ckpt::ui::CastDialog cast(kernel, {"params", "Dense_0", "kernel"});
        cast.setDType(DType::kBFloat16);
        QVERIFY(QTest::qWaitFor([&] { return !cast.previewRunning(); }, kTimeoutMs));
        auto report = previewCast(*kernel->array(), DType::kBFloat16);
        CKPT_VERIFY_OK(report);
        QVERIFY2(cast.previewText().contains(QStringLiteral("15 elements in 1 arrays")),
                 qPrintable(cast.previewText()));
        QVERIFY(cast.previewText().contains(QString::number(report->changed) + QStringLiteral(" change")));
    }
};

QTEST_MAIN(TestEditing)
#include "tst_editing.moc"
