/* The dispatch loop of lifecycle in C: the same contract as plans.py's loops.
 *
 * A plan is a tuple of (fn, ref) pairs. For each item: target = ref(); a None
 * target is skipped and not counted; else result = fn(target, *args, **kwargs)
 * through vectorcall. Unresolved raised: skipped, not counted. Any other
 * Exception: handed to the Python report_failure(fn, target, error), and the
 * loop goes on (counted). A BaseException that is not an Exception propagates
 * at once. A non-None result goes to the Python discard_awaitable(fn, target,
 * result). The count of called callbacks is returned.
 *
 * Every piece of policy (what to log, how to name a callback, what to do with
 * an awaitable) stays in Python, handed over once by configure(); this file
 * only runs the loop. No borrowed reference is held across a call into Python:
 * the plan, and each item's fn, ref and target, are owned while they are used.
 *
 * Entry points:
 *   run(plan, args, kwargs)  the loop, for the pure-Python callers' shape;
 *   dispatcher(plans, key, rebuild, name)  what registry.dispatcher() returns:
 *       reads plans[key], calls rebuild(key) when it is None, runs the loop;
 *   DispatchBase  a base class for CallbackRegistry whose dispatch() method
 *       reads self._sync_plans (a C slot up to 3.12, see below), calls self._rebuild(hook)
 *       when the plan is missing, and hands anything unusual (extra=, an unknown
 *       or async hook, a missing argument) to self._dispatch_slow(), the Python
 *       method, so that every error stays the pure path's own.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* What configure() hands over; owned by the module for the process's life. */
static PyObject *Unresolved = NULL;
static PyObject *report_failure = NULL;
static PyObject *discard_awaitable = NULL;

static PyObject *str_rebuild = NULL;      /* "_rebuild" */
static PyObject *str_dispatch_slow = NULL; /* "_dispatch_slow" */
static PyObject *str_sync_plans = NULL;    /* "_sync_plans" */
static PyObject *str_extra = NULL;         /* "extra" */
static PyObject *str_hook = NULL;          /* "hook" */
static PyObject *str_self = NULL;          /* "self" */

/* Arguments that fit here are passed from the C stack; more go to the heap. */
#define SMALL_STACK 10

/* Dereference an item's ref: a new reference to the target, Py_None (new) when dead, NULL on error. */
static PyObject *
deref(PyObject *ref)
{
    if (PyWeakref_CheckRefExact(ref)) {
#if PY_VERSION_HEX >= 0x030D0000
        PyObject *target;
        if (PyWeakref_GetRef(ref, &target) < 0) {
            return NULL;
        }
        if (target == NULL) {
            Py_RETURN_NONE;
        }
        return target;
#else
        PyObject *target = PyWeakref_GET_OBJECT(ref);
        Py_INCREF(target);
        return target;
#endif
    }
    return PyObject_CallNoArgs(ref);
}

/* Hand the error being raised to report_failure(fn, target, error); 0, or -1 if a BaseException must propagate. */
static int
handle_exception(PyObject *fn, PyObject *target, int *counted)
{
    if (PyErr_ExceptionMatches(Unresolved)) {
        PyErr_Clear();
        *counted = 0;
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        return -1; /* KeyboardInterrupt, SystemExit, ...: propagates at once */
    }
    *counted = 1;
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *error = PyErr_GetRaisedException();
#else
    PyObject *type, *error, *traceback;
    PyErr_Fetch(&type, &error, &traceback);
    PyErr_NormalizeException(&type, &error, &traceback);
    if (traceback != NULL && error != NULL) {
        PyException_SetTraceback(error, traceback);
    }
    Py_XDECREF(type);
    Py_XDECREF(traceback);
#endif
    if (error == NULL) {
        return 0;
    }
    PyObject *stack[3] = {fn, target, error};
    PyObject *outcome = PyObject_Vectorcall(report_failure, stack, 3, NULL);
    Py_DECREF(error);
    if (outcome != NULL) {
        Py_DECREF(outcome);
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_Clear(); /* report_failure guards itself; should it still fail, isolation wins */
        return 0;
    }
    return -1;
}

/* discard_awaitable(fn, target, result): 0, or -1 if a BaseException must propagate. */
static int
handle_result(PyObject *fn, PyObject *target, PyObject *result)
{
    PyObject *stack[3] = {fn, target, result};
    PyObject *outcome = PyObject_Vectorcall(discard_awaitable, stack, 3, NULL);
    if (outcome != NULL) {
        Py_DECREF(outcome);
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* Run a plan (owned by the caller for the whole call) with vectorcall-shaped arguments.
 * Returns the count, or -1 with an exception set. */
static Py_ssize_t
run_plan(PyObject *plan, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (Unresolved == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "lifecycle._speedups.configure() was never called");
        return -1;
    }
    if (!PyTuple_Check(plan)) {
        PyErr_Format(PyExc_TypeError, "a dispatch plan must be a tuple of (fn, ref) pairs, got %.100s",
                     Py_TYPE(plan)->tp_name);
        return -1;
    }
    /* A dispatcher registered on its own hook calls itself with no Python frame in
     * between: without this, C recursion would overflow the stack, not raise. */
    if (Py_EnterRecursiveCall(" in lifecycle dispatch")) {
        return -1;
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    Py_ssize_t total = nargs + nkw;
    /* stack[0]: the slot PY_VECTORCALL_ARGUMENTS_OFFSET lends the callee; stack[1]: the target. */
    PyObject *small[SMALL_STACK + 2];
    PyObject **stack = small;
    if (total > SMALL_STACK) {
        stack = PyMem_New(PyObject *, total + 2);
        if (stack == NULL) {
            Py_LeaveRecursiveCall();
            PyErr_NoMemory();
            return -1;
        }
    }
    stack[0] = NULL;
    for (Py_ssize_t i = 0; i < total; i++) {
        stack[i + 2] = args[i]; /* the caller owns them for the whole call */
    }
    size_t callnargs = (size_t)(nargs + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET;
    Py_ssize_t size = PyTuple_GET_SIZE(plan);
    Py_ssize_t called = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        PyObject *item = PyTuple_GET_ITEM(plan, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_Format(PyExc_TypeError, "a dispatch plan item must be a (fn, ref) tuple, got %.100s",
                         Py_TYPE(item)->tp_name);
            goto error;
        }
        PyObject *fn = PyTuple_GET_ITEM(item, 0);
        PyObject *ref = PyTuple_GET_ITEM(item, 1);
        Py_INCREF(fn);
        Py_INCREF(ref);
        PyObject *target = deref(ref);
        Py_DECREF(ref);
        if (target == NULL) {
            Py_DECREF(fn);
            goto error;
        }
        if (target == Py_None) {
            Py_DECREF(target);
            Py_DECREF(fn);
            continue;
        }
        stack[1] = target;
        PyObject *result = PyObject_Vectorcall(fn, stack + 1, callnargs, kwnames);
        int failed = 0;
        if (result == NULL) {
            int counted = 0;
            failed = handle_exception(fn, target, &counted);
            called += counted;
        }
        else {
            called++;
            if (result != Py_None) {
                failed = handle_result(fn, target, result);
            }
            Py_DECREF(result);
        }
        Py_DECREF(target);
        Py_DECREF(fn);
        if (failed) {
            goto error;
        }
    }
    if (stack != small) {
        PyMem_Free(stack);
    }
    Py_LeaveRecursiveCall();
    return called;
error:
    if (stack != small) {
        PyMem_Free(stack);
    }
    Py_LeaveRecursiveCall();
    return -1;
}

/* Run an owned plan and drop it: a new int, or NULL. */
static PyObject *
run_owned(PyObject *plan, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t called = run_plan(plan, args, nargs, kwnames);
    Py_DECREF(plan);
    return called < 0 ? NULL : PyLong_FromSsize_t(called);
}

/* plans[key], or rebuild(key) when it is None: a new reference, or NULL. */
static PyObject *
current_plan(PyObject *plans, PyObject *key, PyObject *self_or_rebuild, int is_method)
{
    PyObject *plan;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyDict_GetItemRef(plans, key, &plan) < 0) {
        return NULL;
    }
#else
    plan = PyDict_GetItemWithError(plans, key);
    if (plan == NULL && PyErr_Occurred()) {
        return NULL;
    }
    Py_XINCREF(plan);
#endif
    if (plan == NULL) {
        PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    if (plan != Py_None) {
        return plan;
    }
    Py_DECREF(plan);
    if (is_method) {
        PyObject *stack[2] = {self_or_rebuild, key};
        return PyObject_VectorcallMethod(str_rebuild, stack, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    return PyObject_CallOneArg(self_or_rebuild, key);
}

/* ---- run(plan, args, kwargs) ------------------------------------------------------- */

static PyObject *
speedups_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "run() takes (plan, args, kwargs), got %zd arguments", nargs);
        return NULL;
    }
    PyObject *plan = args[0], *positional = args[1], *kwargs = args[2];
    if (!PyTuple_Check(positional)) {
        PyErr_Format(PyExc_TypeError, "run() needs args as a tuple, got %.100s", Py_TYPE(positional)->tp_name);
        return NULL;
    }
    if (kwargs != Py_None && !PyDict_Check(kwargs)) {
        PyErr_Format(PyExc_TypeError, "run() needs kwargs as a dict or None, got %.100s", Py_TYPE(kwargs)->tp_name);
        return NULL;
    }
    Py_ssize_t nkw = kwargs == Py_None ? 0 : PyDict_GET_SIZE(kwargs);
    Py_INCREF(plan);
    Py_INCREF(positional);
    PyObject *result;
    if (nkw == 0) {
        result = run_owned(plan, &PyTuple_GET_ITEM(positional, 0), PyTuple_GET_SIZE(positional), NULL);
    }
    else {
        /* Flatten into vectorcall's shape: values after the positionals, names in a tuple. */
        Py_ssize_t npos = PyTuple_GET_SIZE(positional);
        PyObject *kwnames = PyTuple_New(nkw);
        PyObject **flat = PyMem_New(PyObject *, npos + nkw);
        if (kwnames == NULL || flat == NULL) {
            Py_XDECREF(kwnames);
            PyMem_Free(flat);
            Py_DECREF(plan);
            Py_DECREF(positional);
            return PyErr_NoMemory();
        }
        for (Py_ssize_t i = 0; i < npos; i++) {
            flat[i] = PyTuple_GET_ITEM(positional, i);
        }
        PyObject *owned = PyDict_Copy(kwargs); /* a callback may change the caller's dict */
        if (owned == NULL) {
            Py_DECREF(kwnames);
            PyMem_Free(flat);
            Py_DECREF(plan);
            Py_DECREF(positional);
            return NULL;
        }
        Py_ssize_t pos = 0, index = 0;
        PyObject *name, *value;
        while (PyDict_Next(owned, &pos, &name, &value)) {
            if (!PyUnicode_Check(name)) {
                PyErr_SetString(PyExc_TypeError, "keywords must be strings");
                Py_DECREF(owned);
                Py_DECREF(kwnames);
                PyMem_Free(flat);
                Py_DECREF(plan);
                Py_DECREF(positional);
                return NULL;
            }
            Py_INCREF(name);
            PyTuple_SET_ITEM(kwnames, index, name);
            flat[npos + index] = value; /* owned by `owned` */
            index++;
        }
        result = run_owned(plan, flat, npos, kwnames);
        PyMem_Free(flat);
        Py_DECREF(kwnames);
        Py_DECREF(owned);
    }
    Py_DECREF(positional);
    return result;
}

/* ---- configure(Unresolved, report_failure, discard_awaitable) ----------------------- */

static PyObject *
speedups_configure(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError,
                     "configure() takes (Unresolved, report_failure, discard_awaitable), got %zd arguments", nargs);
        return NULL;
    }
    if (!PyExceptionClass_Check(args[0]) || !PyCallable_Check(args[1]) || !PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "configure() takes an exception class and two callables "
                        "(Unresolved, report_failure, discard_awaitable)");
        return NULL;
    }
    Py_INCREF(args[0]);
    Py_INCREF(args[1]);
    Py_INCREF(args[2]);
    Py_XSETREF(Unresolved, args[0]);
    Py_XSETREF(report_failure, args[1]);
    Py_XSETREF(discard_awaitable, args[2]);
    Py_RETURN_NONE;
}

/* ---- dispatcher ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *plans;   /* dict: hook -> Plan | None */
    PyObject *key;     /* the hook */
    PyObject *rebuild; /* rebuild(hook) -> Plan */
    PyObject *name;    /* "dispatch_<hook>" */
    PyObject *weakreflist;
    vectorcallfunc vectorcall;
} Dispatcher;

static PyObject *
dispatcher_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Dispatcher *d = (Dispatcher *)self;
    /* Owned for the call: a callback could drop every other reference to the dispatcher. */
    PyObject *plans = d->plans, *key = d->key, *rebuild = d->rebuild;
    Py_INCREF(plans);
    Py_INCREF(key);
    Py_INCREF(rebuild);
    PyObject *plan = current_plan(plans, key, rebuild, 0);
    PyObject *result = plan == NULL ? NULL : run_owned(plan, args, PyVectorcall_NARGS(nargsf), kwnames);
    Py_DECREF(plans);
    Py_DECREF(key);
    Py_DECREF(rebuild);
    return result;
}

static PyObject *
dispatcher_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *plans, *key, *rebuild, *name;
    static char *names[] = {"plans", "key", "rebuild", "name", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OOU:dispatcher", names, &PyDict_Type, &plans, &key, &rebuild,
                                     &name)) {
        return NULL;
    }
    if (!PyCallable_Check(rebuild)) {
        PyErr_Format(PyExc_TypeError, "dispatcher() needs a callable rebuild, got %.100s", Py_TYPE(rebuild)->tp_name);
        return NULL;
    }
    Dispatcher *self = (Dispatcher *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(plans);
    Py_INCREF(key);
    Py_INCREF(rebuild);
    Py_INCREF(name);
    self->plans = plans;
    self->key = key;
    self->rebuild = rebuild;
    self->name = name;
    self->vectorcall = dispatcher_vectorcall;
    return (PyObject *)self;
}

static int
dispatcher_traverse(Dispatcher *self, visitproc visit, void *arg)
{
    Py_VISIT(self->plans);
    Py_VISIT(self->key);
    Py_VISIT(self->rebuild);
    Py_VISIT(self->name);
    return 0;
}

static int
dispatcher_clear(Dispatcher *self)
{
    Py_CLEAR(self->plans);
    Py_CLEAR(self->key);
    Py_CLEAR(self->rebuild);
    Py_CLEAR(self->name);
    return 0;
}

static void
dispatcher_dealloc(Dispatcher *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    dispatcher_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
dispatcher_repr(Dispatcher *self)
{
    return PyUnicode_FromFormat("<lifecycle dispatcher %U>", self->name);
}

static PyObject *
dispatcher_get_name(Dispatcher *self, void *closure)
{
    Py_INCREF(self->name);
    return self->name;
}

static PyGetSetDef dispatcher_getset[] = {
    {"__name__", (getter)dispatcher_get_name, NULL, "dispatch_<hook>", NULL},
    {"__qualname__", (getter)dispatcher_get_name, NULL, "dispatch_<hook>", NULL},
    {NULL},
};

static PyMemberDef dispatcher_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(Dispatcher, vectorcall), READONLY},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(Dispatcher, weakreflist), READONLY},
    {"hook", T_OBJECT, offsetof(Dispatcher, key), READONLY, "the hook it dispatches"},
    {NULL},
};

static PyTypeObject DispatcherType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lifecycle._speedups.dispatcher",
    .tp_doc = "dispatcher(plans, key, rebuild, name): calling it runs plans[key] (rebuild(key) when None).",
    .tp_basicsize = sizeof(Dispatcher),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = dispatcher_new,
    .tp_dealloc = (destructor)dispatcher_dealloc,
    .tp_traverse = (traverseproc)dispatcher_traverse,
    .tp_clear = (inquiry)dispatcher_clear,
    .tp_repr = (reprfunc)dispatcher_repr,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Dispatcher, vectorcall),
    .tp_weaklistoffset = offsetof(Dispatcher, weakreflist),
    .tp_getset = dispatcher_getset,
    .tp_members = dispatcher_members,
};

/* ---- DispatchBase: CallbackRegistry.dispatch in C ----------------------------------- */

/* Where _sync_plans lives. Up to 3.12 it is a C slot of this base (the Python
 * subclass's assignments land there, and dispatch reads it with no lookup). From
 * 3.13 on, a Python subclass of a base with C fields loses the inline attribute
 * values of plain classes (every attribute access on the registry got slower), so
 * there the base has no fields and _sync_plans is an ordinary instance attribute,
 * read with one generic lookup. */
#if PY_VERSION_HEX < 0x030D0000
#define PLANS_IN_SLOT 1
typedef struct {
    PyObject_HEAD
    PyObject *sync_plans;
} DispatchBase;

static PyMemberDef base_members[] = {
    {"_sync_plans", T_OBJECT_EX, offsetof(DispatchBase, sync_plans), 0,
     "dict: sync hook -> its Plan, or None until rebuilt"},
    {NULL},
};

static int
base_traverse(DispatchBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->sync_plans); /* a heap subclass's own traverse visits the type */
    return 0;
}

static int
base_clear(DispatchBase *self)
{
    Py_CLEAR(self->sync_plans);
    return 0;
}

static void
base_dealloc(DispatchBase *self)
{
    /* A Python subclass's subtype_dealloc calls this and then drops its type itself. */
    PyObject_GC_UnTrack(self);
    base_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A new reference to self._sync_plans, or NULL (with or without an error set). */
static PyObject *
sync_plans_of(PyObject *self)
{
    PyObject *plans = ((DispatchBase *)self)->sync_plans;
    Py_XINCREF(plans);
    return plans;
}
#else
#define PLANS_IN_SLOT 0

static PyObject *
sync_plans_of(PyObject *self)
{
    PyObject *plans = PyObject_GetAttr(self, str_sync_plans);
    if (plans == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
    }
    return plans;
}
#endif

/* self._dispatch_slow(*args, **kwargs): the Python method, for everything unusual. */
static PyObject *
slow_path(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    PyObject *small[SMALL_STACK + 1];
    PyObject **stack = small;
    if (nargs + nkw + 1 > SMALL_STACK + 1) {
        stack = PyMem_New(PyObject *, nargs + nkw + 1);
        if (stack == NULL) {
            return PyErr_NoMemory();
        }
    }
    stack[0] = self;
    for (Py_ssize_t i = 0; i < nargs + nkw; i++) {
        stack[i + 1] = args[i];
    }
    PyObject *result = PyObject_VectorcallMethod(str_dispatch_slow, stack, (size_t)(nargs + 1), kwnames);
    if (stack != small) {
        PyMem_Free(stack);
    }
    return result;
}

static PyObject *
base_dispatch(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs < 1) {
        return slow_path(self, args, nargs, kwnames);
    }
    if (kwnames != NULL) {
        /* extra= is the slow path's; hook= and self= are errors the slow path words. */
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t i = 0; i < nkw; i++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, i);
            if (PyUnicode_Compare(name, str_extra) == 0 || PyUnicode_Compare(name, str_hook) == 0 ||
                PyUnicode_Compare(name, str_self) == 0) {
                return slow_path(self, args, nargs, kwnames);
            }
        }
    }
    PyObject *plans = sync_plans_of(self);
    if (plans == NULL || !PyDict_CheckExact(plans)) {
        /* Not set up (or not a dict): the slow path says what is wrong, as the pure one would. */
        if (plans == NULL && PyErr_Occurred()) {
            return NULL;
        }
        Py_XDECREF(plans);
        return slow_path(self, args, nargs, kwnames);
    }
    PyObject *hook = args[0];
    PyObject *plan;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyDict_GetItemRef(plans, hook, &plan) < 0) {
        plan = NULL;
    }
#else
    plan = PyDict_GetItemWithError(plans, hook);
    Py_XINCREF(plan);
#endif
    Py_DECREF(plans);
    if (plan == NULL) {
        /* Not a sync hook (or unhashable): the slow path raises the pure path's own error. */
        if (PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
                return NULL;
            }
            PyErr_Clear();
        }
        return slow_path(self, args, nargs, kwnames);
    }
    if (plan == Py_None) {
        Py_DECREF(plan);
        Py_INCREF(self);
        Py_INCREF(hook);
        PyObject *stack[2] = {self, hook};
        plan = PyObject_VectorcallMethod(str_rebuild, stack, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        Py_DECREF(hook);
        Py_DECREF(self);
        if (plan == NULL) {
            return NULL;
        }
    }
    return run_owned(plan, args + 1, nargs - 1, kwnames);
}

static PyMethodDef base_methods[] = {
    {"dispatch", (PyCFunction)(void (*)(void))base_dispatch, METH_FASTCALL | METH_KEYWORDS,
     "dispatch($self, hook, /, *args, **kwargs)\n--\n\n"
     "Call the live callbacks of a sync hook (and CALLBACKS for success and failure), then the\n"
     "extra= callbacks that are not duplicates of one already called; how many were called.\n"
     "The C fast path of CallbackRegistry.dispatch: extra= and errors go to _dispatch_slow()."},
    {NULL},
};

static PyObject *empty_tuple = NULL;

/* object.__new__ with no arguments (the subclass's __init__ takes them): unlike
 * PyType_GenericNew it sets up a Python subclass's inline attribute values, so
 * that attribute access on the registry stays as fast as on a plain class. */
static PyObject *
base_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    return PyBaseObject_Type.tp_new(type, empty_tuple, NULL);
}

static PyTypeObject DispatchBaseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lifecycle._speedups.DispatchBase",
    .tp_doc = "A base of CallbackRegistry whose dispatch() runs in C.",
#if PLANS_IN_SLOT
    .tp_basicsize = sizeof(DispatchBase),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)base_dealloc,
    .tp_traverse = (traverseproc)base_traverse,
    .tp_clear = (inquiry)base_clear,
    .tp_members = base_members,
#else
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
#endif
    .tp_new = base_new,
    .tp_methods = base_methods,
};

/* ---- the module ---------------------------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"run", (PyCFunction)(void (*)(void))speedups_run, METH_FASTCALL,
     "run(plan, args, kwargs) -> int: run a dispatch plan (kwargs: a dict or None)."},
    {"configure", (PyCFunction)(void (*)(void))speedups_configure, METH_FASTCALL,
     "configure(Unresolved, report_failure, discard_awaitable): the Python halves of the contract."},
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "lifecycle._speedups",
    .m_doc = "The dispatch loop of lifecycle in C (optional: lifecycle.COMPILED says whether it runs).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    str_rebuild = PyUnicode_InternFromString("_rebuild");
    str_dispatch_slow = PyUnicode_InternFromString("_dispatch_slow");
    str_extra = PyUnicode_InternFromString("extra");
    str_sync_plans = PyUnicode_InternFromString("_sync_plans");
    str_hook = PyUnicode_InternFromString("hook");
    str_self = PyUnicode_InternFromString("self");
    if (str_rebuild == NULL || str_dispatch_slow == NULL || str_extra == NULL || str_hook == NULL ||
        str_self == NULL || str_sync_plans == NULL) {
        return NULL;
    }
    empty_tuple = PyTuple_New(0);
    if (empty_tuple == NULL) {
        return NULL;
    }
    if (PyType_Ready(&DispatcherType) < 0 || PyType_Ready(&DispatchBaseType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&DispatcherType);
    if (PyModule_AddObject(module, "dispatcher", (PyObject *)&DispatcherType) < 0) {
        Py_DECREF(&DispatcherType);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&DispatchBaseType);
    if (PyModule_AddObject(module, "DispatchBase", (PyObject *)&DispatchBaseType) < 0) {
        Py_DECREF(&DispatchBaseType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
