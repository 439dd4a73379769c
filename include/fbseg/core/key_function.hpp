// fbseg/core/key_function.hpp - FBSEG_KEY_FUNCTION(Class): where a class's virtual functions are
// compiled.
//
// A C++ compiler emits a class's vtable, and so every virtual function the vtable points at, in
// the translation unit that defines the class's "key function": its first virtual function that
// is not inline where the class is defined (Itanium C++ ABI, 5.2.3). A class whose virtual
// functions are all inline has no key function, and then every program that constructs one
// compiles its vtable, its forward() and every op and kernel forward() reaches, again.
//
// Built against libfbseg (FBSEG_KERNEL_LIBRARY, the fbseg::fbseg target), the modules and
// optimizers declare their destructor here, out of line: it becomes the key function, and
// src/nn/key_functions.cpp defines it, so their vtables and virtual functions are compiled once,
// into the library. A program that builds a UNet then compiles the UNet's constructor, not its
// forward pass (docs/performance.md, "Build cost"). Header-only (fbseg::header_only or plain
// -I include), the destructor is an inline default and the compiler emits what it uses, as
// before.
//
// A class that uses the macro needs its line in src/nn/key_functions.cpp; a missing line is a
// link error ("undefined reference to vtable for ...") in every library build, tests included.
#pragma once

#if defined(FBSEG_KERNEL_LIBRARY)
#define FBSEG_KEY_FUNCTION(Class) ~Class() override;
#else
#define FBSEG_KEY_FUNCTION(Class) ~Class() override = default;
#endif
