# bastion_flags.m4: probes for compiler and linker flags, so that
# configure works with gcc and clang alike and drops what a compiler
# does not know instead of failing the build.

# BASTION_CFLAG(FLAG, VAR): append FLAG to VAR if the C compiler accepts
# it.  -Werror, because clang only warns about an unknown -W option and
# some unknown -f ones, and a warning is not a refusal.
AC_DEFUN([BASTION_CFLAG], [
  AS_VAR_PUSHDEF([cache], [bastion_cv_cflag_$1])
  AC_CACHE_CHECK([whether $CC accepts $1], [cache], [
    save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -Werror $1"
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [return 0;])],
      [AS_VAR_SET([cache], [yes])], [AS_VAR_SET([cache], [no])])
    CFLAGS=$save_CFLAGS])
  AS_VAR_IF([cache], [yes], [$2="$$2 $1"])
  AS_VAR_POPDEF([cache])
])

# BASTION_LDFLAG(FLAG, VAR, [CFLAGS]): append FLAG to VAR if a program
# links with it (compiled with CFLAGS, for -pie which wants -fPIE).
AC_DEFUN([BASTION_LDFLAG], [
  AS_VAR_PUSHDEF([cache], [bastion_cv_ldflag_$1])
  AC_CACHE_CHECK([whether $CC links with $1], [cache], [
    save_CFLAGS=$CFLAGS
    save_LDFLAGS=$LDFLAGS
    CFLAGS="$CFLAGS -Werror $3"
    LDFLAGS="$LDFLAGS $1"
    AC_LINK_IFELSE([AC_LANG_PROGRAM([], [return 0;])],
      [AS_VAR_SET([cache], [yes])], [AS_VAR_SET([cache], [no])])
    CFLAGS=$save_CFLAGS
    LDFLAGS=$save_LDFLAGS])
  AS_VAR_IF([cache], [yes], [$2="$$2 $1"])
  AS_VAR_POPDEF([cache])
])
