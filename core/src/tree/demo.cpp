#include "ckpt/core/demo.h"

#include <cmath>
#include <cstring>

namespace ckpt {

namespace {

NodePtr floatArray(Shape shape, const std::function<float(std::uint64_t)>& value) {
    auto array = Array::allocate(DType::kFloat32, std::move(shape)).value();
    for (std::uint64_t i = 0; i < array.elementCount(); ++i) {
        const float v = value(i);
        std::memcpy(array.bytes().data() + i * 4, &v, 4);
    }
    return Node::makeArray(makeMemorySource(std::move(array)));
}

NodePtr intArray(Shape shape, std::int32_t start) {
    auto array = Array::allocate(DType::kInt32, std::move(shape)).value();
    for (std::uint64_t i = 0; i < array.elementCount(); ++i) {
        const auto v = static_cast<std::int32_t>(start + static_cast<std::int32_t>(i));
        std::memcpy(array.bytes().data() + i * 4, &v, 4);
    }
    return Node::makeArray(makeMemorySource(std::move(array)));
}

NodePtr dense(float scale) {
    return Node::makeDict({
        {"kernel", floatArray({5, 3}, [scale](std::uint64_t i) {
             return scale * std::sin(static_cast<float>(i) * 0.7f);
         })},
        {"bias", floatArray({3}, [scale](std::uint64_t i) {
             return scale * 0.01f * static_cast<float>(i);
         })},
    });
}

}  // namespace

NodePtr makeDemoTrainState() {
    NodePtr params = Node::makeDict({{"Dense_0", dense(1.0f)}});
    NodePtr mu = Node::makeDict({{"Dense_0", dense(0.1f)}});
    NodePtr nu = Node::makeDict({{"Dense_0", dense(0.01f)}});
    NodePtr adam = Node::makeDict({
        {"count", Node::makeScalar(Scalar::fromInt64(100, /*native=*/false))},
        {"mu", mu},
        {"nu", nu},
    });
    NodePtr optState = Node::makeTuple({adam, Node::makeNone()});
    NodePtr config = Node::makeDict({
        {"learning_rate", Node::makeScalar(Scalar::fromFloat64(0.001))},
        {"model", Node::makeString("mlp")},
        {"layers", Node::makeList({Node::makeScalar(Scalar::fromInt64(3)),
                                   Node::makeScalar(Scalar::fromInt64(5))})},
        {"use_bias", Node::makeScalar(Scalar::fromBool(true))},
    });
    NodePtr data = Node::makeList({intArray({4}, 0), intArray({2, 2}, 10)});
    return Node::makeDict({
        {"step", Node::makeScalar(Scalar::fromInt64(100))},
        {"params", params},
        {"opt_state", optState},
        {"config", config},
        {"data", data},
    });
}

}  // namespace ckpt
